import NFTables
import Proxy
import Synchronization

/// A timing breakdown of one nftables full sync, for `nodectl bench nft-profile` (see
/// docs/proxy-bench.md): building the Services, rendering the transaction, lowering it to a
/// netlink batch, the kernel's processing of that batch, a second full sync over the first
/// (the periodic resync: delete the table and program it again), a commit that changes
/// nothing on the populated table, and the two partial syncs the benchmark measures.
enum ProxyBenchProfile {
    struct Step {
        var name: String
        var seconds: Double
        var note = ""
    }

    /// Runs in the calling process's network namespace, which must have no `nodekit-proxy`
    /// table of its own (the parent gives it a fresh one).
    static func nftables(services: Int, endpoints: Int) throws -> [Step] {
        let clock = ContinuousClock()
        let workload = ProxyWorkload(services: services, endpoints: endpoints)
        var state = ProxyState()
        let build = clock.measure { state = workload.state() }
        let nft = NetlinkNFTables()
        let timed = TimedNFTables()
        let proxier = NFTablesProxier(family: .ip, nft: timed)
        var tx = Transaction(family: .ip, table: NFTablesProxier.defaultTableName)
        let render = clock.measure { tx = proxier.fullTransaction(state) }
        var first = NetlinkNFTables.ApplyTiming()
        try nft.apply(tx, timing: &first)
        var replace = Transaction(family: .ip, table: NFTablesProxier.defaultTableName)
        replace.add(.addTable)
        replace.add(.deleteTable)
        for op in tx.operations { replace.add(op) }
        var second = NetlinkNFTables.ApplyTiming()
        try nft.apply(replace, timing: &second)
        var nothing = Transaction(family: .ip, table: NFTablesProxier.defaultTableName)
        nothing.add(.addTable)
        var empty = NetlinkNFTables.ApplyTiming()
        try nft.apply(nothing, timing: &empty)

        var probe = Transaction(family: .ip, table: NFTablesProxier.defaultTableName)
        probe.add(.addChain(Chain("profile-probe")))
        probe.add(.addRule(chain: "profile-probe", Rule(.verdict(.jump(NFTablesProxier.markChainName)))))
        var validated = NetlinkNFTables.ApplyTiming()
        try nft.apply(probe, timing: &validated)
        var unprobe = Transaction(family: .ip, table: NFTablesProxier.defaultTableName)
        unprobe.add(.flushChain("profile-probe"))
        unprobe.add(.deleteChain("profile-probe"))
        try nft.apply(unprobe)

        // The proxier's own syncs, as the benchmark runs them.
        func sync(_ name: String, _ body: () throws -> Void) throws -> Step {
            timed.reset()
            let total = try clock.measure(body)
            let t = timed.timing
            return Step(name: name, seconds: total.seconds,
                        note: String(format: "lowering %.1f ms, kernel %.1f ms, %d messages",
                                     t.lowering.seconds * 1000, t.kernel.seconds * 1000, t.messages))
        }
        let full = try sync("proxier full sync (over the populated table)") { try proxier.sync(state, changed: [], kind: .full) }
        let added = ProxyWorkload.name(workload.addedIndex)
        state.services[added] = workload.info(workload.addedIndex)
        state.endpoints[added] = workload.endpointList(workload.addedIndex)
        let partialAdd = try sync("proxier partial sync, +1 Service") { try proxier.sync(state, changed: [added], kind: .partial) }
        state.endpoints[ProxyWorkload.name(0)] = workload.changedEndpoints()
        let partialEndpoint = try sync("proxier partial sync, 1 endpoint") {
            try proxier.sync(state, changed: [ProxyWorkload.name(0)], kind: .partial)
        }
        try proxier.cleanup()

        let batch = "\(first.messages) messages, \(first.bytes / 1024) KiB"
        return [
            Step(name: "build the ProxyState", seconds: build.seconds),
            Step(name: "render the full transaction", seconds: render.seconds, note: "\(tx.operations.count) operations"),
            Step(name: "lower to a netlink batch (libnftnl)", seconds: first.lowering.seconds, note: batch),
            Step(name: "kernel: parse + commit into an empty table", seconds: first.kernel.seconds),
            Step(name: "lower again (replace)", seconds: second.lowering.seconds),
            Step(name: "kernel: delete the table + parse + commit", seconds: second.kernel.seconds),
            Step(name: "kernel: a commit that changes nothing", seconds: empty.kernel.seconds),
            Step(name: "kernel: one new chain with a jump (validates the table)", seconds: validated.kernel.seconds),
            full, partialAdd, partialEndpoint,
        ]
    }
}

/// Applies through ``NetlinkNFTables`` and adds up where the time went.
final class TimedNFTables: NFTablesInterface {
    private let nft = NetlinkNFTables(keepingSocketOpen: true)
    private let total = Mutex(NetlinkNFTables.ApplyTiming())

    var timing: NetlinkNFTables.ApplyTiming { total.withLock { $0 } }
    func reset() { total.withLock { $0 = NetlinkNFTables.ApplyTiming() } }

    func apply(_ transaction: Transaction) throws(NFTablesError) {
        var t = NetlinkNFTables.ApplyTiming()
        defer {
            total.withLock {
                $0.lowering += t.lowering
                $0.kernel += t.kernel
                $0.messages += t.messages
                $0.bytes += t.bytes
            }
        }
        try nft.apply(transaction, timing: &t)
    }
}
