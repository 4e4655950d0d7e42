/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast pseudo-random generator with a
/// 64-bit state. The scheduler breaks ties between equally scored nodes with it (as
/// `TieBreakRandom`: the choice needs spread, not secrecy, and `SystemRandomNumberGenerator`
/// costs a system call per draw); randomized tests seed it, so that a failure that names its
/// seed can be reproduced.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// Seeded from the system generator.
    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
