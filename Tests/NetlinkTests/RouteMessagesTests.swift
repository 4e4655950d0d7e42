import Netlink
import Synchronization
import Testing

/// rtnetlink requests built with libmnl, compared byte for byte with hand-decoded captures.
/// Integers are little-endian (x86_64 host order); attributes are padded to 4 bytes.
@Suite("rtnetlink message golden bytes")
struct RouteMessagesTests {
    @Test("RTM_NEWLINK bridge nk0, mtu 1500")
    func newBridge() {
        let expected: [UInt8] = [
            0x40, 0x00, 0x00, 0x00, // nlmsg_len 64
            0x10, 0x00,             // nlmsg_type RTM_NEWLINK (16)
            0x05, 0x06,             // flags REQUEST|ACK|EXCL|CREATE (0x605)
            0x01, 0x00, 0x00, 0x00, // seq 1
            0x00, 0x00, 0x00, 0x00, // port id 0 (kernel)
            0x00, 0x00, 0x00, 0x00, // ifinfomsg: family AF_UNSPEC, pad, type 0
            0x00, 0x00, 0x00, 0x00, //   index 0 (kernel picks)
            0x00, 0x00, 0x00, 0x00, //   flags 0
            0x00, 0x00, 0x00, 0x00, //   change 0
            0x08, 0x00, 0x03, 0x00, // IFLA_IFNAME (3), len 8
            0x6e, 0x6b, 0x30, 0x00, //   "nk0\0"
            0x08, 0x00, 0x04, 0x00, // IFLA_MTU (4), len 8
            0xdc, 0x05, 0x00, 0x00, //   1500
            0x10, 0x00, 0x12, 0x80, // IFLA_LINKINFO (18) | NLA_F_NESTED, len 16
            0x0b, 0x00, 0x01, 0x00, //   IFLA_INFO_KIND (1), len 11
            0x62, 0x72, 0x69, 0x64, //   "brid"
            0x67, 0x65, 0x00, 0x00, //   "ge\0" + 1 pad
        ]
        #expect(RouteMessages.newBridge(name: "nk0", mtu: 1500, sequence: 1) == expected)
    }

    @Test("RTM_NEWLINK bridge nk0 with its own address: IFLA_ADDRESS after the MTU")
    func newBridgeWithAddress() {
        let mac: [UInt8] = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55]
        let bytes = RouteMessages.newBridge(name: "nk0", mtu: 1500, mac: mac, sequence: 1)
        let address: [UInt8] = [
            0x0a, 0x00, 0x01, 0x00, // IFLA_ADDRESS (1), len 10
            0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x00, 0x00, // the address + 2 pad
        ]
        #expect(bytes.count == 64 + 12)
        #expect(bytes[0] == 76, "nlmsg_len grows by the attribute")
        #expect(Array(bytes[48..<60]) == address)
    }

    @Test("RTM_NEWLINK veth0 with peer eth0 in the netns of fd 5")
    func newVeth() {
        let expected: [UInt8] = [
            0x68, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x06, // len 104, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
            0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 2, port 0
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // ifinfomsg (zero)
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x0a, 0x00, 0x03, 0x00,                         // IFLA_IFNAME, len 10
            0x76, 0x65, 0x74, 0x68, 0x30, 0x00, 0x00, 0x00, //   "veth0\0" + 2 pad
            0x3c, 0x00, 0x12, 0x80,                         // IFLA_LINKINFO nested, len 60
            0x09, 0x00, 0x01, 0x00,                         //   IFLA_INFO_KIND, len 9
            0x76, 0x65, 0x74, 0x68, 0x00, 0x00, 0x00, 0x00, //     "veth\0" + 3 pad
            0x2c, 0x00, 0x02, 0x80,                         //   IFLA_INFO_DATA (2) nested, len 44
            0x28, 0x00, 0x01, 0x80,                         //     VETH_INFO_PEER (1) nested, len 40
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, //       peer ifinfomsg (zero)
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x09, 0x00, 0x03, 0x00,                         //       IFLA_IFNAME, len 9
            0x65, 0x74, 0x68, 0x30, 0x00, 0x00, 0x00, 0x00, //         "eth0\0" + 3 pad
            0x08, 0x00, 0x1c, 0x00,                         //       IFLA_NET_NS_FD (28), len 8
            0x05, 0x00, 0x00, 0x00,                         //         fd 5
        ]
        #expect(RouteMessages.newVeth(name: "veth0", peerName: "eth0", peerNamespaceFD: 5, mtu: nil, sequence: 2) == expected)
    }

    @Test("RTM_SETLINK AF_BRIDGE: hairpin on for index 7")
    func hairpin() {
        let expected: [UInt8] = [
            0x2c, 0x00, 0x00, 0x00, // len 44
            0x13, 0x00, 0x05, 0x00, // RTM_SETLINK (19), REQUEST|ACK
            0x03, 0x00, 0x00, 0x00, // seq 3
            0x00, 0x00, 0x00, 0x00, // port 0
            0x07, 0x00, 0x00, 0x00, // ifinfomsg: family AF_BRIDGE (7), pad, type 0
            0x07, 0x00, 0x00, 0x00, //   index 7
            0x00, 0x00, 0x00, 0x00, //   flags
            0x00, 0x00, 0x00, 0x00, //   change
            0x0c, 0x00, 0x0c, 0x80, // IFLA_PROTINFO (12) nested, len 12
            0x05, 0x00, 0x04, 0x00, //   IFLA_BRPORT_MODE (4), len 5
            0x01, 0x00, 0x00, 0x00, //   1 (hairpin) + 3 pad
        ]
        #expect(RouteMessages.setHairpin(index: 7, enabled: true, sequence: 3) == expected)
    }

    @Test("RTM_SETLINK: index 3 up, master 9")
    func setLink() {
        let expected: [UInt8] = [
            0x28, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, // len 40, RTM_SETLINK, REQUEST|ACK
            0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 4, port 0
            0x00, 0x00, 0x00, 0x00,                         // family 0, pad, type 0
            0x03, 0x00, 0x00, 0x00,                         // index 3
            0x01, 0x00, 0x00, 0x00,                         // flags IFF_UP
            0x01, 0x00, 0x00, 0x00,                         // change IFF_UP
            0x08, 0x00, 0x0a, 0x00, 0x09, 0x00, 0x00, 0x00, // IFLA_MASTER (10) = 9
        ]
        #expect(RouteMessages.setLink(index: 3, up: true, masterIndex: 9, sequence: 4) == expected)
    }

    @Test("RTM_NEWADDR 10.244.0.5/24 on index 3, with broadcast")
    func newAddress() {
        let expected: [UInt8] = [
            0x30, 0x00, 0x00, 0x00, 0x14, 0x00, 0x05, 0x06, // len 48, RTM_NEWADDR (20), REQUEST|ACK|EXCL|CREATE
            0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 5, port 0
            0x02, 0x18, 0x00, 0x00,                         // ifaddrmsg: AF_INET, prefixlen 24, flags 0, scope universe
            0x03, 0x00, 0x00, 0x00,                         //   index 3
            0x08, 0x00, 0x02, 0x00, 0x0a, 0xf4, 0x00, 0x05, // IFA_LOCAL (2) 10.244.0.5
            0x08, 0x00, 0x01, 0x00, 0x0a, 0xf4, 0x00, 0x05, // IFA_ADDRESS (1) 10.244.0.5
            0x08, 0x00, 0x04, 0x00, 0x0a, 0xf4, 0x00, 0xff, // IFA_BROADCAST (4) 10.244.0.255
        ]
        #expect(RouteMessages.address(20, index: 3, prefix: IPPrefix("10.244.0.5/24")!, sequence: 5) == expected)
    }

    @Test("RTM_NEWROUTE replace: default via 10.244.0.1 dev index 3")
    func replaceDefaultRoute() {
        let expected: [UInt8] = [
            0x2c, 0x00, 0x00, 0x00, 0x18, 0x00, 0x05, 0x05, // len 44, RTM_NEWROUTE (24), REQUEST|ACK|REPLACE|CREATE
            0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 6, port 0
            0x02, 0x00, 0x00, 0x00,                         // rtmsg: AF_INET, dst_len 0, src_len 0, tos 0
            0xfe, 0x03, 0x00, 0x01,                         //   table main (254), proto boot (3), scope universe, type unicast
            0x00, 0x00, 0x00, 0x00,                         //   flags
            0x08, 0x00, 0x05, 0x00, 0x0a, 0xf4, 0x00, 0x01, // RTA_GATEWAY (5) 10.244.0.1
            0x08, 0x00, 0x04, 0x00, 0x03, 0x00, 0x00, 0x00, // RTA_OIF (4) 3
        ]
        let route = RouteInfo(destination: IPPrefix("0.0.0.0/0")!, gateway: IPAddress("10.244.0.1"), outputIndex: 3)
        #expect(RouteMessages.route(24, route, replace: true, sequence: 6) == expected)
    }

    @Test("link dump reply parses into LinkInfo")
    func parseLink() throws {
        let reply: [UInt8] = [
            0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, // ifinfomsg: family, pad, type; index 5
            0x43, 0x10, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, // flags (UP|BROADCAST|RUNNING|MULTICAST|LOWER_UP), change
            0x08, 0x00, 0x03, 0x00, 0x6e, 0x6b, 0x30, 0x00, // IFLA_IFNAME "nk0"
            0x08, 0x00, 0x04, 0x00, 0xdc, 0x05, 0x00, 0x00, // IFLA_MTU 1500
            0x0a, 0x00, 0x01, 0x00, 0x02, 0x42, 0xac, 0x11, // IFLA_ADDRESS 02:42:ac:11:00:02
            0x00, 0x02, 0x00, 0x00,
            0x08, 0x00, 0x0a, 0x00, 0x02, 0x00, 0x00, 0x00, // IFLA_MASTER 2
            0x10, 0x00, 0x12, 0x00, 0x0b, 0x00, 0x01, 0x00, // IFLA_LINKINFO { IFLA_INFO_KIND "bridge" }
            0x62, 0x72, 0x69, 0x64, 0x67, 0x65, 0x00, 0x00,
        ]
        let link = try #require(RouteMessages.parseLink(NetlinkMessage(type: 16, flags: 2, sequence: 1, portID: 0, payload: reply)))
        #expect(link == LinkInfo(index: 5, name: "nk0", kind: "bridge", mtu: 1500, mac: [0x02, 0x42, 0xac, 0x11, 0x00, 0x02], masterIndex: 2, isUp: true))
        #expect(link.macString == "02:42:ac:11:00:02")
    }
}

/// A scripted socket: records what was sent and replies with datagrams built from the request's
/// sequence number.
final class ScriptedSocket: NetlinkSocket {
    let replies: Mutex<[@Sendable (UInt32) -> [UInt8]]>
    let lastSequence = Mutex<UInt32>(0)
    init(_ replies: [@Sendable (UInt32) -> [UInt8]]) { self.replies = Mutex(replies) }
    func send(_ datagram: [UInt8]) throws(NetlinkError) {
        lastSequence.withLock { $0 = UInt32(datagram[8]) | UInt32(datagram[9]) << 8 | UInt32(datagram[10]) << 16 | UInt32(datagram[11]) << 24 }
    }
    func receive() throws(NetlinkError) -> [UInt8] {
        let seq = lastSequence.withLock { $0 }
        return replies.withLock { $0.isEmpty ? [] : $0.removeFirst()(seq) }
    }

    /// An NLMSG_ERROR message carrying `-errno` (0 = ACK).
    static func error(_ errno: Int32, seq: UInt32) -> [UInt8] {
        var m: [UInt8] = []
        func le32(_ v: UInt32) { m += [UInt8(v & 0xff), UInt8(v >> 8 & 0xff), UInt8(v >> 16 & 0xff), UInt8(v >> 24)] }
        le32(36); m += [0x02, 0x00, 0x00, 0x00]; le32(seq); le32(0)
        le32(UInt32(bitPattern: -errno))
        m += [UInt8](repeating: 0, count: 16) // the echoed request header
        return m
    }
}

@Suite("netlink request/ACK handling")
struct NetlinkConnectionTests {
    @Test("an ACK ends the exchange; NLMSG_ERROR becomes NetlinkError with the errno", arguments: [(Int32(0), Int32?.none), (17, 17), (19, 19), (1, 1)])
    func ackAndErrors(errno: Int32, expected: Int32?) throws {
        let socket = ScriptedSocket([{ ScriptedSocket.error(errno, seq: $0) }])
        let netlink = RouteNetlink(socket: socket)
        if let expected {
            let error = try #require(throws: NetlinkError.self) { try netlink.createBridge(name: "nk0", mtu: nil) }
            #expect(error.errno == expected)
            #expect(error.operation == "create bridge")
            #expect(error.description.contains("nk0"))
        } else {
            try netlink.createBridge(name: "nk0", mtu: nil)
        }
    }

    @Test("replies with another sequence number are ignored")
    func ignoresStaleReplies() throws {
        let socket = ScriptedSocket([{ ScriptedSocket.error(17, seq: $0 &+ 1000) }, { ScriptedSocket.error(0, seq: $0) }])
        try RouteNetlink(socket: socket).setUp(index: 3)
    }

    @Test("a truncated datagram is a clear error, not a crash")
    func truncated() {
        #expect(throws: NetlinkError.self) { try NetlinkMessage.parse([0x40, 0, 0, 0, 0x10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 2]) }
    }
}

@Suite("IP addresses and prefixes")
struct IPAddressTests {
    @Test("parse and print", arguments: [
        ("10.244.0.5", "10.244.0.5"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("fd00::1", "fd00::1"), ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("::", "::"), ("::1", "::1"),
    ])
    func roundTrip(text: String, canonical: String) throws {
        #expect(try #require(IPAddress(text)).description == canonical)
    }

    @Test("reject bad addresses", arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.-1", "a.b.c.d", "1::2::3", "12345::", "01.2.3.4.5"])
    func reject(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test("prefix network, broadcast and membership")
    func prefix() throws {
        let p = try #require(IPPrefix("10.244.1.77/24"))
        #expect(p.network.description == "10.244.1.0/24")
        #expect(p.last == IPAddress("10.244.1.255"))
        #expect(p.contains(IPAddress("10.244.1.1")!))
        #expect(!p.contains(IPAddress("10.244.2.1")!))
        #expect(!p.contains(IPAddress("fd00::1")!))
        #expect(IPPrefix("10.0.0.0/33") == nil)
        #expect(IPPrefix("fd00::/64")!.last == IPAddress("fd00::ffff:ffff:ffff:ffff"))
    }
}
