#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import KubeAPI

/// Encodes an updated object as `JSONCoding.encode` does, byte for byte, but copies the encoded
/// bytes of what did not change from the old object's stored bytes instead of encoding it again.
///
/// Every update encoded its whole object: a binding changes `spec.nodeName` and a condition, a
/// kubelet's status write the status and one managedFields entry, a Lease renewal one time, yet
/// the pod's metadata (its managedFields a third of its bytes) and spec were encoded each time.
///
/// The splice walks the new object beside the old one (the decoded object of the stored
/// revision, from the cache) and the old bytes. A member whose new value shares storage with
/// the old value (Swift's copy-on-write leaves untouched subtrees shared, so a cheap identity
/// test proves them equal) is copied from the old bytes; a changed object or array big enough
/// to be worth it is descended into, member by member or element by element; the rest is
/// encoded. Old bytes are only copied where they are exactly what encoding gives: the scan that
/// finds members checks that each copied value is canonical (no white space, keys strictly in
/// sorted order, `JSONWriter`'s escapes and number forms) and anything else is encoded, so bytes
/// from another writer or in another form cost the full encode, never a different result.
///
/// Relies on `old` being the object the old bytes decode to (the decoded object of that
/// revision; a metadata.resourceVersion in it that the bytes lack is harmless, as new stored
/// objects have none).
///
/// Measured (session 13, release, the server's own binding, kubelet status write and Lease
/// renewal, 11 rounds of 20,000): binding 16.9 µs full against 12.6 µs spliced (1,655 of 1,861
/// bytes copied), status 23.6 against 18.6 µs (1,753 of 3,378), Lease 3.08 against 3.28 µs
/// (small: the scan costs what it saves). In a 50,000-pod hollow-bench perf the write path's
/// encoding went from 3.6% of all CPU to 3.3%; checking the old bytes (skipString, skipValue,
/// scanMembers) is about a third of the splice.
enum SplicedEncoding {
    /// Changed objects and arrays whose old encoding is shorter than this are encoded rather
    /// than descended into: scanning and matching their members costs about what encoding does.
    static let descendThreshold = 64

    /// False when the environment sets NODEKIT_SPLICED_ENCODING=0: every update is encoded
    /// whole, as before (for measuring the splice against the full encoding in one binary).
    static let enabled = ProcessInfo.processInfo.environment["NODEKIT_SPLICED_ENCODING"] != "0"

    /// The bytes of `JSONCoding.encode(new)`, reusing the parts of `oldBytes` (the encoding of
    /// `old`) that `new` did not change.
    static func encode(_ new: JSONObject, old: JSONObject, oldBytes: [UInt8]) -> [UInt8] {
        encodeCounting(new, old: old, oldBytes: oldBytes).bytes
    }

    /// ``encode(_:old:oldBytes:)`` and how many of the bytes were copied from `oldBytes`.
    static func encodeCounting(_ new: JSONObject, old: JSONObject, oldBytes: [UInt8]) -> (bytes: [UInt8], copied: Int) {
        let spliced: (bytes: [UInt8], copied: Int)? = oldBytes.withUnsafeBufferPointer { buffer in
            guard buffer.count >= 2, buffer[0] == UInt8(ascii: "{") else { return nil }
            var splicer = Splicer(old: buffer)
            splicer.out.reserveCapacity(buffer.count + buffer.count / 4 + 256)
            guard splicer.object(new, old, in: 0..<buffer.count, known: false) else { return nil }
            return (splicer.out, splicer.copied)
        }
        return spliced ?? (JSONCoding.encode(new), 0)
    }
}

/// One splice: the old bytes, the output, and the members found at the levels descended into.
private struct Splicer {
    let old: UnsafeBufferPointer<UInt8>
    var out: [UInt8] = []
    var copied = 0
    /// The members (or elements) of the objects (arrays) being spliced, a level's after its parent's.
    var slots: [Slot] = []
    /// Decoded keys for ordering escaped keys, and a number's canonical form.
    var scratchA: [UInt8] = []
    var scratchB: [UInt8] = []

    /// A member of an old object (an element of an old array: no key).
    struct Slot {
        var keyStart = 0
        var keyEnd = 0
        /// The key has no escapes and is ASCII: its bytes between the quotes are the key.
        var plainKey = true
        var valueStart: Int
        var valueEnd: Int
        /// The value's bytes are exactly `JSONWriter`'s encoding of the value they hold.
        var canonical: Bool
    }

    init(old: UnsafeBufferPointer<UInt8>) { self.old = old }

    // MARK: Splicing

    /// Writes the encoding of `new`, reusing the members of the old object at `range`, whose
    /// decoded form is `oldObject`; `known` when those bytes were found canonical already. False,
    /// with nothing written, when the old bytes there are not a canonically laid out object
    /// (the caller encodes `new` instead).
    mutating func object(_ new: [String: JSONValue], _ oldObject: [String: JSONValue], in range: Range<Int>, known: Bool) -> Bool {
        let base = slots.count
        guard scanMembers(range, known: known) else {
            slots.removeSubrange(base...)
            return false
        }
        let end = slots.count
        out.append(UInt8(ascii: "{"))
        var next = base
        var first = true
        // The order JSONWriter writes members in; the old members are in that order too (checked).
        for (key, value) in new.sorted(by: { $0.key < $1.key }) {
            if !first { out.append(UInt8(ascii: ",")) }
            first = false
            var match: Int?
            while next < end {
                let order = compare(slots[next], key)
                if order < 0 { next += 1; continue }
                if order == 0 { match = next; next += 1 }
                break
            }
            if let match, let oldValue = oldObject[key] {
                let slot = slots[match]
                copy(slot.keyStart..<slot.keyEnd)
                out.append(UInt8(ascii: ":"))
                splice(value, oldValue, slot)
            } else {
                JSONValue.string(key).serialize(into: &out)
                out.append(UInt8(ascii: ":"))
                value.serialize(into: &out)
            }
        }
        out.append(UInt8(ascii: "}"))
        slots.removeSubrange(base...)
        return true
    }

    /// Writes the encoding of `new`, reusing the elements of the old array at `range`, whose
    /// decoded form is `oldArray`: an element is copied from an identical old one (where it
    /// was, else anywhere in a short array: an entry removed and appended again moves), else
    /// spliced with the old element at its position. False, with nothing written, when the old
    /// bytes there are not an array of `oldArray.count` elements.
    mutating func array(_ new: [JSONValue], _ oldArray: [JSONValue], in range: Range<Int>, known: Bool) -> Bool {
        let base = slots.count
        guard scanElements(range, known: known), slots.count - base == oldArray.count else {
            slots.removeSubrange(base...)
            return false
        }
        let count = oldArray.count
        out.append(UInt8(ascii: "["))
        for (i, value) in new.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if i < count, slots[base + i].canonical, Self.identical(value, oldArray[i]) {
                copy(slots[base + i].valueStart..<slots[base + i].valueEnd)
                continue
            }
            if count <= 16, let j = (0..<count).first(where: { $0 != i && slots[base + $0].canonical && Self.identical(value, oldArray[$0]) }) {
                copy(slots[base + j].valueStart..<slots[base + j].valueEnd)
                continue
            }
            if i < count {
                splice(value, oldArray[i], slots[base + i])
            } else {
                value.serialize(into: &out)
            }
        }
        out.append(UInt8(ascii: "]"))
        slots.removeSubrange(base...)
        return true
    }

    /// Writes the encoding of `new`, whose old counterpart is `old`, encoded at `slot`.
    mutating func splice(_ new: JSONValue, _ old: JSONValue, _ slot: Slot) {
        let range = slot.valueStart..<slot.valueEnd
        if slot.canonical && Self.identical(new, old) {
            copy(range)
            return
        }
        if range.count >= SplicedEncoding.descendThreshold {
            switch (new, old) {
            case (.object(let n), .object(let o)):
                if object(n, o, in: range, known: slot.canonical) { return }
            case (.array(let n), .array(let o)):
                if array(n, o, in: range, known: slot.canonical) { return }
            case (.string(let n), .string(let o)) where slot.canonical && n.utf8.elementsEqual(o.utf8):
                copy(range)
                return
            default:
                break
            }
        }
        new.serialize(into: &out)
    }

    mutating func copy(_ range: Range<Int>) {
        out.append(contentsOf: UnsafeBufferPointer(rebasing: old[range]))
        copied += range.count
    }

    /// True when `a` and `b` have the same representation: the same case with the same
    /// object, array or string storage (a copy-on-write value not written to since it was
    /// copied) or the same scalar, so equal without looking inside. Bytes of the enum that the
    /// value does not use can only make equal values look different, never the reverse.
    @inline(__always)
    static func identical(_ a: JSONValue, _ b: JSONValue) -> Bool {
        withUnsafeBytes(of: a) { px in
            withUnsafeBytes(of: b) { py in memcmp(px.baseAddress!, py.baseAddress!, MemoryLayout<JSONValue>.size) == 0 }
        }
    }

    // MARK: Scanning the old bytes

    /// Adds the members of the object at `range` (exactly) to `slots`. False when the bytes are
    /// not an object laid out as JSONWriter writes one: white space, keys not in strictly
    /// increasing order, a key not escaped as JSONWriter escapes it.
    /// `known`: the bytes were found canonical already (as part of the value holding them), so
    /// they are only walked, not checked again.
    mutating func scanMembers(_ range: Range<Int>, known: Bool) -> Bool {
        var i = range.lowerBound
        let end = range.upperBound
        guard i < end, old[i] == UInt8(ascii: "{") else { return false }
        i += 1
        guard i < end else { return false }
        if old[i] == UInt8(ascii: "}") { return i + 1 == end }
        var previous: Slot?
        while true {
            guard i < end, old[i] == UInt8(ascii: "\"") else { return false }
            let keyStart = i
            var keyCanonical = true
            var plain = true
            guard skipString(&i, canonical: &keyCanonical, plain: &plain), keyCanonical else { return false }
            let keyEnd = i
            guard i < end, old[i] == UInt8(ascii: ":") else { return false }
            i += 1
            let valueStart = i
            var canonical = true
            guard known ? skipKnown(&i) : skipValue(&i, depth: 1, canonical: &canonical), i <= end else { return false }
            let slot = Slot(keyStart: keyStart, keyEnd: keyEnd, plainKey: plain, valueStart: valueStart, valueEnd: i, canonical: canonical)
            if !known, let previous, !keyLess(previous, slot) { return false }
            slots.append(slot)
            previous = slot
            guard i < end else { return false }
            if old[i] == UInt8(ascii: ",") { i += 1; continue }
            return old[i] == UInt8(ascii: "}") && i + 1 == end
        }
    }

    /// Adds the elements of the array at `range` (exactly) to `slots`. False when the bytes are
    /// not an array without white space between its elements.
    mutating func scanElements(_ range: Range<Int>, known: Bool) -> Bool {
        var i = range.lowerBound
        let end = range.upperBound
        guard i < end, old[i] == UInt8(ascii: "[") else { return false }
        i += 1
        guard i < end else { return false }
        if old[i] == UInt8(ascii: "]") { return i + 1 == end }
        while true {
            let valueStart = i
            var canonical = true
            guard known ? skipKnown(&i) : skipValue(&i, depth: 1, canonical: &canonical), i <= end else { return false }
            slots.append(Slot(valueStart: valueStart, valueEnd: i, canonical: canonical))
            guard i < end else { return false }
            if old[i] == UInt8(ascii: ",") { i += 1; continue }
            return old[i] == UInt8(ascii: "]") && i + 1 == end
        }
    }

    /// Reads past the value at `i` (white space around its parts allowed); false when the bytes
    /// are not JSON. Clears `canonical` when they are not JSONWriter's encoding of their value.
    mutating func skipValue(_ i: inout Int, depth: Int, canonical: inout Bool) -> Bool {
        guard i < old.count, depth <= JSONValue.maximumDepth else { return false }
        switch old[i] {
        case UInt8(ascii: "{"):
            i += 1
            skipSpace(&i, canonical: &canonical)
            guard i < old.count else { return false }
            if old[i] == UInt8(ascii: "}") { i += 1; return true }
            var previous: Slot?
            while true {
                skipSpace(&i, canonical: &canonical)
                guard i < old.count, old[i] == UInt8(ascii: "\"") else { return false }
                let keyStart = i
                var keyCanonical = true
                var plain = true
                guard skipString(&i, canonical: &keyCanonical, plain: &plain) else { return false }
                let key = Slot(keyStart: keyStart, keyEnd: i, plainKey: plain, valueStart: i, valueEnd: i, canonical: keyCanonical)
                if !keyCanonical {
                    canonical = false
                } else if canonical {
                    // Duplicate or unsorted keys decode to what other bytes encode.
                    if let previous, !keyLess(previous, key) { canonical = false }
                    previous = key
                }
                skipSpace(&i, canonical: &canonical)
                guard i < old.count, old[i] == UInt8(ascii: ":") else { return false }
                i += 1
                skipSpace(&i, canonical: &canonical)
                guard skipValue(&i, depth: depth + 1, canonical: &canonical) else { return false }
                skipSpace(&i, canonical: &canonical)
                guard i < old.count else { return false }
                if old[i] == UInt8(ascii: ",") { i += 1; continue }
                if old[i] == UInt8(ascii: "}") { i += 1; return true }
                return false
            }
        case UInt8(ascii: "["):
            i += 1
            skipSpace(&i, canonical: &canonical)
            guard i < old.count else { return false }
            if old[i] == UInt8(ascii: "]") { i += 1; return true }
            while true {
                skipSpace(&i, canonical: &canonical)
                guard skipValue(&i, depth: depth + 1, canonical: &canonical) else { return false }
                skipSpace(&i, canonical: &canonical)
                guard i < old.count else { return false }
                if old[i] == UInt8(ascii: ",") { i += 1; continue }
                if old[i] == UInt8(ascii: "]") { i += 1; return true }
                return false
            }
        case UInt8(ascii: "\""):
            var plain = true
            return skipString(&i, canonical: &canonical, plain: &plain)
        case UInt8(ascii: "t"): return literal(&i, "true")
        case UInt8(ascii: "f"): return literal(&i, "false")
        case UInt8(ascii: "n"): return literal(&i, "null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return skipNumber(&i, canonical: &canonical)
        default: return false
        }
    }

    /// Reads past the value at `i` in bytes already found canonical (no white space, valid
    /// strings): only strings and nesting matter.
    func skipKnown(_ i: inout Int) -> Bool {
        var depth = 0
        while i < old.count {
            switch old[i] {
            case UInt8(ascii: "\""):
                var canonical = true, plain = true
                guard skipString(&i, canonical: &canonical, plain: &plain) else { return false }
                if depth == 0 { return true }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > 0 else { return false }
                depth -= 1
                i += 1
                if depth == 0 { return true }
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                guard depth > 0 else { return false }
                i += 1
            default:
                // A number or literal: up to the next delimiter.
                i += 1
                while i < old.count {
                    let byte = old[i]
                    if byte == UInt8(ascii: ",") || byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") || byte == UInt8(ascii: ":") { break }
                    i += 1
                }
                if depth == 0 { return true }
            }
        }
        return false
    }

    func skipSpace(_ i: inout Int, canonical: inout Bool) {
        while i < old.count {
            switch old[i] {
            case 0x20, 0x09, 0x0A, 0x0D:
                canonical = false
                i += 1
            default:
                return
            }
        }
    }

    func literal(_ i: inout Int, _ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard i + count <= old.count, memcmp(old.baseAddress! + i, word.utf8Start, count) == 0 else { return false }
        i += count
        return true
    }

    /// Reads past the string at `i`. Clears `canonical` for an escape JSONWriter does not write
    /// (`\/`, `\u0041`, upper-case hex), `plain` for any escape or non-ASCII byte. UTF-8 is not
    /// checked again: the bytes were decoded (and so validated) into the old object.
    func skipString(_ i: inout Int, canonical: inout Bool, plain: inout Bool) -> Bool {
        i += 1
        let base = UnsafeRawPointer(old.baseAddress!)
        while i < old.count {
            // Eight bytes at a time up to the first '"', '\\' or control character.
            var high: UInt64 = 0
            while i + 8 <= old.count {
                let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let special = Self.specialBytes(word)
                if special == 0 {
                    high |= word
                    i += 8
                    continue
                }
                // The lowest flagged byte is a special one (false flags only sit above a true one).
                let skipped = special.trailingZeroBitCount / 8
                high |= word & ((1 << (UInt64(skipped) * 8)) &- 1)
                i += skipped
                break
            }
            if high & Self.highBits != 0 { plain = false }
            guard i < old.count else { break }
            let byte = old[i]
            if byte == UInt8(ascii: "\"") { i += 1; return true }
            if byte < 0x20 { return false }
            if byte >= 0x80 { plain = false }
            if byte != UInt8(ascii: "\\") { i += 1; continue }
            plain = false
            guard i + 1 < old.count else { return false }
            switch old[i + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"), UInt8(ascii: "b"), UInt8(ascii: "f"):
                i += 2
            case UInt8(ascii: "/"):
                canonical = false
                i += 2
            case UInt8(ascii: "u"):
                guard i + 6 <= old.count else { return false }
                // JSONWriter writes \u00xx (lower-case) only for control characters without a short escape.
                let h1 = old[i + 4], h2 = old[i + 5]
                let code = Self.hexValue(h1).map { $0 << 4 } .flatMap { high in Self.hexValue(h2).map { high | $0 } }
                if old[i + 2] != UInt8(ascii: "0") || old[i + 3] != UInt8(ascii: "0") || !Self.isLowerHex(h1) || !Self.isLowerHex(h2)
                    || code.map({ $0 >= 0x20 || [0x08, 0x09, 0x0A, 0x0C, 0x0D].contains($0) }) ?? true {
                    canonical = false
                }
                i += 6
            default:
                return false
            }
        }
        return false
    }

    static let lowBits: UInt64 = 0x0101_0101_0101_0101
    static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each byte of `word` (little-endian: the first byte lowest) that may be
    /// '"', '\\' or below 0x20: zero when none is, and the lowest bit set marks a byte that is
    /// (a borrow can only flag bytes above a flagged one).
    @inline(__always)
    static func specialBytes(_ word: UInt64) -> UInt64 {
        let quote = word ^ (lowBits &* 0x22)
        let backslash = word ^ (lowBits &* 0x5C)
        let zeroQuote = (quote &- lowBits) & ~quote
        let zeroBackslash = (backslash &- lowBits) & ~backslash
        let control = (word &- lowBits &* 0x20) & ~word
        return (zeroQuote | zeroBackslash | control) & highBits
    }

    static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Reads past the number at `i`. Integers of up to 15 digits without a sign on zero are
    /// JSONWriter's form; any other number is canonical when encoding its value gives its bytes.
    mutating func skipNumber(_ i: inout Int, canonical: inout Bool) -> Bool {
        let start = i
        var simple = true
        if old[i] == UInt8(ascii: "-") { i += 1 }
        let digits = i
        while i < old.count {
            let byte = old[i]
            if (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) { i += 1; continue }
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") {
                simple = false
                i += 1
                continue
            }
            break
        }
        let count = i - digits
        guard count > 0 else { return false }
        if simple && count <= 15 && (old[digits] != UInt8(ascii: "0") || (count == 1 && digits == start)) { return true }
        // The old bytes decoded, so this is a valid JSON number: a valid Double literal.
        guard let value = Double(String(decoding: UnsafeBufferPointer(rebasing: old[start..<i]), as: UTF8.self)) else { return false }
        scratchA.removeAll(keepingCapacity: true)
        JSONValue.number(value).serialize(into: &scratchA)
        if !scratchA.elementsEqual(UnsafeBufferPointer(rebasing: old[start..<i])) { canonical = false }
        return true
    }

    // MARK: Key order

    /// True when old key `a` sorts strictly before old key `b` in Swift's String order (the
    /// order JSONWriter writes members in). Both keys are canonically escaped.
    mutating func keyLess(_ a: Slot, _ b: Slot) -> Bool {
        if a.plainKey && b.plainKey {
            return Self.compare(UnsafeBufferPointer(rebasing: old[(a.keyStart + 1)..<(a.keyEnd - 1)]),
                                UnsafeBufferPointer(rebasing: old[(b.keyStart + 1)..<(b.keyEnd - 1)])) < 0
        }
        unescape(a, into: &scratchA)
        unescape(b, into: &scratchB)
        if !scratchA.contains(where: { $0 >= 0x80 }) && !scratchB.contains(where: { $0 >= 0x80 }) {
            return scratchA.withUnsafeBufferPointer { x in scratchB.withUnsafeBufferPointer { y in Self.compare(x, y) } } < 0
        }
        return String(decoding: scratchA, as: UTF8.self) < String(decoding: scratchB, as: UTF8.self)
    }

    /// The order of old key `slot` against `key`: negative when it sorts before, zero when its
    /// decoded bytes are `key`'s, positive otherwise (equal in Swift's order with other bytes
    /// included: then it matches nothing and sorts after).
    mutating func compare(_ slot: Slot, _ key: String) -> Int {
        var key = key
        if slot.plainKey {
            let order = key.withUTF8 { k -> Int? in
                if k.contains(where: { $0 >= 0x80 }) { return nil }
                return Self.compare(UnsafeBufferPointer(rebasing: old[(slot.keyStart + 1)..<(slot.keyEnd - 1)]), k)
            }
            if let order { return order }
        }
        unescape(slot, into: &scratchA)
        let bytesEqual = key.withUTF8 { k in scratchA.elementsEqual(k) }
        if bytesEqual { return 0 }
        let ascii = key.withUTF8 { k in !k.contains(where: { $0 >= 0x80 }) } && !scratchA.contains(where: { $0 >= 0x80 })
        if ascii { return scratchA.withUnsafeBufferPointer { x in key.withUTF8 { k in Self.compare(x, k) } } }
        return String(decoding: scratchA, as: UTF8.self) < key ? -1 : 1
    }

    /// Lexicographic order of two byte strings (for ASCII, Swift's String order): eight bytes
    /// at a time (as big-endian numbers, which order as their bytes do), then one at a time.
    static func compare(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let common = min(a.count, b.count)
        var i = 0
        if common >= 8 {
            let pa = UnsafeRawPointer(a.baseAddress!), pb = UnsafeRawPointer(b.baseAddress!)
            while i + 8 <= common {
                let x = UInt64(bigEndian: pa.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                let y = UInt64(bigEndian: pb.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                if x != y { return x < y ? -1 : 1 }
                i += 8
            }
        }
        while i < common {
            if a[i] != b[i] { return a[i] < b[i] ? -1 : 1 }
            i += 1
        }
        return a.count - b.count
    }

    /// The text of canonically escaped old key `slot`, as UTF-8.
    func unescape(_ slot: Slot, into text: inout [UInt8]) {
        text.removeAll(keepingCapacity: true)
        var i = slot.keyStart + 1
        let end = slot.keyEnd - 1
        while i < end {
            let byte = old[i]
            guard byte == UInt8(ascii: "\\") else { text.append(byte); i += 1; continue }
            switch old[i + 1] {
            case UInt8(ascii: "n"): text.append(0x0A); i += 2
            case UInt8(ascii: "r"): text.append(0x0D); i += 2
            case UInt8(ascii: "t"): text.append(0x09); i += 2
            case UInt8(ascii: "b"): text.append(0x08); i += 2
            case UInt8(ascii: "f"): text.append(0x0C); i += 2
            case UInt8(ascii: "u"):
                text.append((Self.hexValue(old[i + 4]) ?? 0) << 4 | (Self.hexValue(old[i + 5]) ?? 0))
                i += 6
            default: text.append(old[i + 1]); i += 2
            }
        }
    }
}
