internal import CMnl
internal import CNftnl

/// Turns operations into libnftnl objects and netlink messages.
enum Lowering {
    static let verdictRegister: UInt32 = 0
    static let reg1: UInt32 = 1
    static let reg2: UInt32 = 2
    static let reg32Base: UInt32 = 8

    /// Appends the netlink messages for `op` to `batch`, numbering them from `seq` (advanced
    /// past them), and records for each the index `opIndex` and the element chunk it holds, so
    /// that an error's label is rendered only when the kernel rejects a message.
    static func append(_ op: Operation, opIndex: Int, family: Family, table: String,
                       into batch: inout BatchBuffer, seq: inout UInt32, origins: inout [MessageOrigin]) throws(NFTablesError) {
        let fam = family.nfproto
        let create = UInt16(NLM_F_CREATE)
        func emit(chunk: Int = 0, _ build: (UnsafeMutablePointer<CChar>, UInt32) -> UnsafeMutablePointer<nlmsghdr>?) {
            let s = seq
            batch.append { build($0, s) }
            origins.append(MessageOrigin(operation: Int32(opIndex), chunk: Int32(chunk)))
            seq += 1
        }
        switch op {
        case .addTable, .deleteTable:
            let type = if case .addTable = op { NFT_MSG_NEWTABLE } else { NFT_MSG_DELTABLE }
            emit { buf, seq in
                withTable(table, fam) { t in
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(type.rawValue), fam, type == NFT_MSG_NEWTABLE ? create : 0, seq)
                    nftnl_table_nlmsg_build_payload(nlh, t)
                    return nlh
                }
            }
        case .addChain(let chain):
            emit { buf, seq in
                withChain(table, chain.name, fam) { c in
                    if let b = chain.base {
                        nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_HOOKNUM), b.hook.number)
                        nftnl_chain_set_s32(c, attr(NFTNL_CHAIN_PRIO), b.priority)
                        nftnl_chain_set_str(c, attr(NFTNL_CHAIN_TYPE), b.type.rawValue)
                        nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_POLICY), 1)
                    }
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWCHAIN.rawValue), fam, create, seq)
                    nftnl_chain_nlmsg_build_payload(nlh, c)
                    return nlh
                }
            }
        case .deleteChain(let name):
            emit { buf, seq in
                withChain(table, name, fam) { c in
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_DELCHAIN.rawValue), fam, 0, seq)
                    nftnl_chain_nlmsg_build_payload(nlh, c)
                    return nlh
                }
            }
        case .flushChain(let name):
            emit { buf, seq in
                withRule(table, name, fam) { r in
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_DELRULE.rawValue), fam, 0, seq)
                    nftnl_rule_nlmsg_build_payload(nlh, r)
                    return nlh
                }
            }
        case .addRule(let chain, let rule):
            try validate(rule, family: family, chain: chain)
            emit { buf, seq in
                withRule(table, chain, fam) { r in
                    for e in rule.exprs { lower(e, family: family, into: r) }
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWRULE.rawValue), fam, create | UInt16(NLM_F_APPEND), seq)
                    nftnl_rule_nlmsg_build_payload(nlh, r)
                    return nlh
                }
            }
        case .addSet(let set):
            guard !set.key.isEmpty else { throw NFTablesError(.invalid, "nftables: set \(set.name) has an empty key") }
            emit { buf, seq in
                withSet(table, set.name, fam) { s in
                    nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_TYPE), set.key.reduce(0) { $0 << 6 | $1.typeNumber })
                    nftnl_set_set_u32(s, attr(NFTNL_SET_KEY_LEN), UInt32(set.key.reduce(0) { $0 + (($1.length + 3) & ~3) }))
                    var flags: UInt32 = 0
                    if set.isVerdictMap {
                        flags |= NFT_SET_MAP.rawValue
                        nftnl_set_set_u32(s, attr(NFTNL_SET_DATA_TYPE), NFT_DATA_VERDICT.rawValue)
                    } else if let data = set.data {
                        flags |= NFT_SET_MAP.rawValue
                        nftnl_set_set_u32(s, attr(NFTNL_SET_DATA_TYPE), data.reduce(0) { $0 << 6 | $1.typeNumber })
                        nftnl_set_set_u32(s, attr(NFTNL_SET_DATA_LEN), UInt32(data.reduce(0) { $0 + (($1.length + 3) & ~3) }))
                    }
                    if let t = set.timeoutSeconds {
                        flags |= NFT_SET_TIMEOUT.rawValue | NFT_SET_EVAL.rawValue
                        nftnl_set_set_u64(s, attr(NFTNL_SET_TIMEOUT), UInt64(t) * 1000)
                    }
                    if let size = set.size { nftnl_set_set_u32(s, attr(NFTNL_SET_DESC_SIZE), size) }
                    nftnl_set_set_u32(s, attr(NFTNL_SET_FLAGS), flags)
                    nftnl_set_set_u32(s, attr(NFTNL_SET_ID), 1)
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_NEWSET.rawValue), fam, create, seq)
                    nftnl_set_nlmsg_build_payload(nlh, s)
                    return nlh
                }
            }
        case .deleteSet(let name):
            emit { buf, seq in
                withSet(table, name, fam) { s in
                    let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(NFT_MSG_DELSET.rawValue), fam, 0, seq)
                    nftnl_set_nlmsg_build_payload(nlh, s)
                    return nlh
                }
            }
        case .addElements(let set, let elements), .deleteElements(let set, let elements):
            let adding = if case .addElements = op { true } else { false }
            let type = adding ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM
            var start = 0
            while start < elements.count {
                let chunk = elements[start..<min(start + NetlinkNFTables.elementsPerMessage, elements.count)]
                emit(chunk: start) { buf, seq in
                    withSet(table, set, fam) { s in
                        var key = [UInt8]()
                        key.reserveCapacity(40)
                        var data = [UInt8]()
                        data.reserveCapacity(20)
                        for e in chunk {
                            let el = nftnl_set_elem_alloc()!
                            key.removeAll(keepingCapacity: true)
                            for part in e.key { part.appendRegisterBytes(to: &key) }
                            key.withUnsafeBytes { _ = nftnl_set_elem_set(el, attr(NFTNL_SET_ELEM_KEY), $0.baseAddress, UInt32($0.count)) }
                            if adding, let v = e.verdict {
                                nftnl_set_elem_set_u32(el, attr(NFTNL_SET_ELEM_VERDICT), verdictCode(v))
                                if let target = v.target { nftnl_set_elem_set_str(el, attr(NFTNL_SET_ELEM_CHAIN), target) }
                            }
                            if adding, let d = e.data {
                                data.removeAll(keepingCapacity: true)
                                for part in d { part.appendRegisterBytes(to: &data) }
                                data.withUnsafeBytes { _ = nftnl_set_elem_set(el, attr(NFTNL_SET_ELEM_DATA), $0.baseAddress, UInt32($0.count)) }
                            }
                            nftnl_set_elem_add(s, el)
                        }
                        let nlh = nftnl_nlmsg_build_hdr(buf, UInt16(type.rawValue), fam, adding ? create : 0, seq)
                        nftnl_set_elems_nlmsg_build_payload(nlh, s)
                        return nlh
                    }
                }
                start += chunk.count
            }
        }
    }

    /// What a message built by ``append(_:opIndex:family:table:into:seq:origins:)`` carries:
    /// its operation's index in the transaction and, for element lists, the chunk's first index.
    struct MessageOrigin {
        var operation: Int32
        var chunk: Int32
    }

    /// A label for the message that carried `origin`, for error messages.
    static func label(_ op: Operation, chunk: Int, table: String) -> String {
        switch op {
        case .addTable: "add table \(table)"
        case .deleteTable: "delete table \(table)"
        case .addChain(let c): "add chain \(c.name)"
        case .deleteChain(let c): "delete chain \(c)"
        case .flushChain(let c): "flush chain \(c)"
        case .addRule(let c, let r): "add rule \(c) \(r.render())"
        case .addSet(let s): "add set \(s.name)"
        case .deleteSet(let s): "delete set \(s)"
        case .addElements(let set, let e): elementLabel("add", set, e, chunk)
        case .deleteElements(let set, let e): elementLabel("delete", set, e, chunk)
        }
    }

    private static func elementLabel(_ verb: String, _ set: String, _ e: [Element], _ chunk: Int) -> String {
        "\(verb) element \(set) { \(chunk < e.count ? e[chunk].keyDescription : "")\(e.count - chunk > 1 ? ", ..." : "") }"
    }

    /// Rejects rules the kernel would misread rather than reject (mixed families).
    static func validate(_ rule: Rule, family: Family, chain: String) throws(NFTablesError) {
        for e in rule.exprs {
            let f: Family? = switch e {
            case .saddr(let c, _), .daddr(let c, _): c.family
            case .dnat(let a, _): a.family
            case .saddrInSet(let f, _), .updateSaddr(let f, _), .dnatMap(let f, _, _): f
            default: nil
            }
            if let f, f != family {
                throw NFTablesError(.invalid, "nftables: rule in chain \(chain) mixes \(f.rawValue) into a \(family.rawValue) table: \(rule.render())")
            }
        }
    }

    static func verdictCode(_ v: Verdict) -> UInt32 {
        switch v {
        case .accept: 1
        case .drop: 0
        case .return: UInt32(bitPattern: -5)
        case .jump: UInt32(bitPattern: -3)
        case .goto: UInt32(bitPattern: -4)
        }
    }

    static func attr<T: RawRepresentable>(_ x: T) -> UInt16 where T.RawValue: BinaryInteger { UInt16(x.rawValue) }
    static func attr(_ x: Int) -> UInt16 { UInt16(x) }

    // MARK: object helpers (each frees what it allocates)

    static func withTable(_ name: String, _ fam: UInt16, _ body: (OpaquePointer) -> UnsafeMutablePointer<nlmsghdr>?) -> UnsafeMutablePointer<nlmsghdr>? {
        let t = nftnl_table_alloc()!
        defer { nftnl_table_free(t) }
        nftnl_table_set_str(t, attr(NFTNL_TABLE_NAME), name)
        nftnl_table_set_u32(t, attr(NFTNL_TABLE_FAMILY), UInt32(fam))
        return body(t)
    }

    static func withChain(_ table: String, _ name: String, _ fam: UInt16, _ body: (OpaquePointer) -> UnsafeMutablePointer<nlmsghdr>?) -> UnsafeMutablePointer<nlmsghdr>? {
        let c = nftnl_chain_alloc()!
        defer { nftnl_chain_free(c) }
        nftnl_chain_set_str(c, attr(NFTNL_CHAIN_TABLE), table)
        nftnl_chain_set_str(c, attr(NFTNL_CHAIN_NAME), name)
        nftnl_chain_set_u32(c, attr(NFTNL_CHAIN_FAMILY), UInt32(fam))
        return body(c)
    }

    static func withRule(_ table: String, _ chain: String, _ fam: UInt16, _ body: (OpaquePointer) -> UnsafeMutablePointer<nlmsghdr>?) -> UnsafeMutablePointer<nlmsghdr>? {
        let r = nftnl_rule_alloc()!
        defer { nftnl_rule_free(r) }
        nftnl_rule_set_str(r, attr(NFTNL_RULE_TABLE), table)
        nftnl_rule_set_str(r, attr(NFTNL_RULE_CHAIN), chain)
        nftnl_rule_set_u32(r, attr(NFTNL_RULE_FAMILY), UInt32(fam))
        return body(r)
    }

    static func withSet(_ table: String, _ name: String, _ fam: UInt16, _ body: (OpaquePointer) -> UnsafeMutablePointer<nlmsghdr>?) -> UnsafeMutablePointer<nlmsghdr>? {
        let s = nftnl_set_alloc()!
        defer { nftnl_set_free(s) }
        nftnl_set_set_str(s, attr(NFTNL_SET_TABLE), table)
        nftnl_set_set_str(s, attr(NFTNL_SET_NAME), name)
        nftnl_set_set_u32(s, attr(NFTNL_SET_FAMILY), UInt32(fam))
        return body(s)
    }

    // MARK: expressions

    private static func expr(_ name: String, into rule: OpaquePointer, _ configure: (OpaquePointer) -> Void) {
        let e = nftnl_expr_alloc(name)!
        configure(e)
        nftnl_rule_add_expr(rule, e)
    }

    private static func setBytes(_ e: OpaquePointer, _ attr: Int, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { _ = nftnl_expr_set(e, UInt16(attr), $0.baseAddress, UInt32($0.count)) }
    }

    private static func hostBytes(_ v: UInt32) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }

    private static func payload(_ base: UInt32, offset: UInt32, length: Int, dreg: UInt32, into r: OpaquePointer) {
        expr("payload", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_DREG), dreg)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_BASE), base)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_OFFSET), offset)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_PAYLOAD_LEN), UInt32(length))
        }
    }

    private static func address(_ family: Family, source: Bool, dreg: UInt32, into r: OpaquePointer) {
        let offset: UInt32 = family == .ip ? (source ? 12 : 16) : (source ? 8 : 24)
        payload(NFT_PAYLOAD_NETWORK_HEADER.rawValue, offset: offset, length: family.addressLength, dreg: dreg, into: r)
    }

    private static func meta(_ key: UInt32, dreg: UInt32, into r: OpaquePointer) {
        expr("meta", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_META_KEY), key)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_META_DREG), dreg)
        }
    }

    private static func cmp(_ op: UInt32, _ data: [UInt8], sreg: UInt32 = reg1, into r: OpaquePointer) {
        expr("cmp", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_CMP_SREG), sreg)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_CMP_OP), op)
            setBytes(e, NFTNL_EXPR_CMP_DATA, data)
        }
    }

    private static func bitwise(mask: [UInt8], xor: [UInt8], into r: OpaquePointer) {
        expr("bitwise", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_BITWISE_SREG), reg1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_BITWISE_DREG), reg1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_BITWISE_LEN), UInt32(mask.count))
            setBytes(e, NFTNL_EXPR_BITWISE_MASK, mask)
            setBytes(e, NFTNL_EXPR_BITWISE_XOR, xor)
        }
    }

    private static func matchPrefix(_ c: CIDR, source: Bool, negated: Bool, into r: OpaquePointer) {
        address(c.family, source: source, dreg: reg1, into: r)
        if !c.isHost { bitwise(mask: c.mask, xor: Array(repeating: 0, count: c.mask.count), into: r) }
        cmp(negated ? NFT_CMP_NEQ.rawValue : NFT_CMP_EQ.rawValue, c.network.bytes, into: r)
    }

    private static func l4proto(_ p: TransportProtocol, into r: OpaquePointer) {
        meta(NFT_META_L4PROTO.rawValue, dreg: reg1, into: r)
        cmp(NFT_CMP_EQ.rawValue, [p.number], into: r)
    }

    /// `ct <key> & mask != 0`: a conntrack bitmask (state or status) has one of `mask`'s bits.
    private static func ctBitsSet(key: UInt32, mask: UInt32, into r: OpaquePointer) {
        expr("ct", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_CT_KEY), key)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_CT_DREG), reg1)
        }
        bitwise(mask: hostBytes(mask), xor: hostBytes(0), into: r)
        cmp(NFT_CMP_NEQ.rawValue, hostBytes(0), into: r)
    }

    private static func fibLocal(flags: UInt32, into r: OpaquePointer) {
        expr("fib", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_FIB_DREG), reg1)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_FIB_RESULT), NFT_FIB_RESULT_ADDRTYPE.rawValue)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_FIB_FLAGS), flags)
        }
        // RTN_LOCAL
        cmp(NFT_CMP_EQ.rawValue, hostBytes(2), into: r)
    }

    private static func markUpdate(mask: UInt32, xor: UInt32, into r: OpaquePointer) {
        meta(NFT_META_MARK.rawValue, dreg: reg1, into: r)
        bitwise(mask: hostBytes(mask), xor: hostBytes(xor), into: r)
        expr("meta", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_META_KEY), NFT_META_MARK.rawValue)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_META_SREG), reg1)
        }
    }

    private static func immediateData(_ bytes: [UInt8], dreg: UInt32, into r: OpaquePointer) {
        expr("immediate", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_IMM_DREG), dreg)
            setBytes(e, NFTNL_EXPR_IMM_DATA, bytes)
        }
    }

    /// Loads a concatenated key into consecutive 32-bit registers from NFT_REG32_00, each part
    /// padded to a whole register, as the kernel's lookup reads a concatenation.
    private static func loadKey(_ key: [KeyPart], into r: OpaquePointer) {
        var reg = reg32Base
        for part in key {
            switch part {
            case .saddr(let f): address(f, source: true, dreg: reg, into: r)
            case .daddr(let f): address(f, source: false, dreg: reg, into: r)
            case .l4proto: meta(NFT_META_L4PROTO.rawValue, dreg: reg, into: r)
            case .dport: payload(NFT_PAYLOAD_TRANSPORT_HEADER.rawValue, offset: 2, length: 2, dreg: reg, into: r)
            case .numgen(let m): numgen(modulus: m, dreg: reg, into: r)
            }
            reg += UInt32((part.length + 3) / 4)
        }
    }

    private static func numgen(modulus: UInt32, dreg: UInt32, into r: OpaquePointer) {
        expr("numgen", into: r) { e in
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NG_DREG), dreg)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NG_MODULUS), modulus)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NG_TYPE), NFT_NG_RANDOM.rawValue)
            nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NG_OFFSET), 0)
        }
    }

    static func lower(_ x: RuleExpr, family: Family, into r: OpaquePointer) {
        switch x {
        case .saddr(let c, let neg): matchPrefix(c, source: true, negated: neg, into: r)
        case .daddr(let c, let neg): matchPrefix(c, source: false, negated: neg, into: r)
        case .l4proto(let p): l4proto(p, into: r)
        case .dport(let p, let port):
            l4proto(p, into: r)
            payload(NFT_PAYLOAD_TRANSPORT_HEADER.rawValue, offset: 2, length: 2, dreg: reg1, into: r)
            cmp(NFT_CMP_EQ.rawValue, [UInt8(port >> 8), UInt8(port & 0xff)], into: r)
        // NF_CT_STATE_BIT(IP_CT_NEW) = 1 << (2 + 1)
        case .ctStateNew: ctBitsSet(key: NFT_CT_STATE.rawValue, mask: 8, into: r)
        // IPS_DST_NAT = 1 << 5 (linux/netfilter/nf_conntrack_common.h)
        case .ctStatusDNAT: ctBitsSet(key: NFT_CT_STATUS.rawValue, mask: 0x20, into: r)
        case .fibDaddrLocal: fibLocal(flags: NFTA_FIB_F_DADDR.rawValue, into: r)
        case .fibSaddrLocal: fibLocal(flags: NFTA_FIB_F_SADDR.rawValue, into: r)
        case .markHas(let bits, let neg):
            meta(NFT_META_MARK.rawValue, dreg: reg1, into: r)
            bitwise(mask: hostBytes(bits), xor: hostBytes(0), into: r)
            cmp(neg ? NFT_CMP_EQ.rawValue : NFT_CMP_NEQ.rawValue, hostBytes(0), into: r)
        case .numgenRandomZero(let m):
            numgen(modulus: m, dreg: reg1, into: r)
            cmp(NFT_CMP_EQ.rawValue, hostBytes(0), into: r)
        case .saddrInSet(let f, let set):
            address(f, source: true, dreg: reg1, into: r)
            expr("lookup", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_LOOKUP_SREG), reg1)
                nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), set)
            }
        case .vmap(let key, let set):
            loadKey(key, into: r)
            expr("lookup", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_LOOKUP_SREG), reg32Base)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_LOOKUP_DREG), verdictRegister)
                nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), set)
            }
        case .inSet(let key, let set):
            loadKey(key, into: r)
            expr("lookup", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_LOOKUP_SREG), reg32Base)
                nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), set)
            }
        case .dnatMap(let f, let key, let set):
            loadKey(key, into: r)
            // The value `address . port` lands in NFT_REG_1 onwards: the address in the first
            // 32-bit registers, the port (padded to 32 bits) right after it, as nft lays it out.
            expr("lookup", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_LOOKUP_SREG), reg32Base)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_LOOKUP_DREG), reg1)
                nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_LOOKUP_SET), set)
            }
            expr("nat", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_TYPE), NFT_NAT_DNAT.rawValue)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_FAMILY), UInt32(f.nfproto))
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_REG_ADDR_MIN), reg1)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_REG_PROTO_MIN), reg32Base + UInt32(f.addressLength / 4))
            }
        case .markOr(let bits): markUpdate(mask: ~bits, xor: bits, into: r)
        case .markXor(let bits): markUpdate(mask: 0xffff_ffff, xor: bits, into: r)
        case .updateSaddr(let f, let set):
            address(f, source: true, dreg: reg1, into: r)
            expr("dynset", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_DYNSET_SREG_KEY), reg1)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_DYNSET_OP), NFT_DYNSET_OP_UPDATE.rawValue)
                nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_DYNSET_SET_NAME), set)
            }
        case .dnat(let a, let port):
            immediateData(a.bytes, dreg: reg1, into: r)
            immediateData([UInt8(port >> 8), UInt8(port & 0xff)], dreg: reg2, into: r)
            expr("nat", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_TYPE), NFT_NAT_DNAT.rawValue)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_FAMILY), UInt32(a.family.nfproto))
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_REG_ADDR_MIN), reg1)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_NAT_REG_PROTO_MIN), reg2)
            }
        case .masquerade:
            expr("masq", into: r) { e in
                // NF_NAT_RANGE_PROTO_RANDOM_FULLY
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_MASQ_FLAGS), 0x10)
            }
        case .reject:
            expr("reject", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_REJECT_TYPE), NFT_REJECT_ICMP_UNREACH.rawValue)
                // ICMP_PORT_UNREACH (3) for IPv4, ICMPV6_PORT_UNREACH (4) for IPv6.
                nftnl_expr_set_u8(e, UInt16(NFTNL_EXPR_REJECT_CODE), family == .ip ? 3 : 4)
            }
        case .rejectTCPReset:
            expr("reject", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_REJECT_TYPE), NFT_REJECT_TCP_RST.rawValue)
            }
        case .verdict(let v):
            expr("immediate", into: r) { e in
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_IMM_DREG), verdictRegister)
                nftnl_expr_set_u32(e, UInt16(NFTNL_EXPR_IMM_VERDICT), verdictCode(v))
                if let t = v.target { nftnl_expr_set_str(e, UInt16(NFTNL_EXPR_IMM_CHAIN), t) }
            }
        }
    }
}
