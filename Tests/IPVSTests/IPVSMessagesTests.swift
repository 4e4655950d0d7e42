import IPVS
import Netlink
import NFTables
import Testing

/// IPVS generic netlink requests compared byte for byte with captures decoded by hand from
/// linux/ip_vs.h and linux/genetlink.h. Integers are little-endian (x86_64 host order) except
/// ports, which IPVS carries in network order; attributes are padded to 4 bytes.
@Suite("IPVS message golden bytes")
struct IPVSMessagesTests {
    static let vip = NFTables.IPAddress("10.96.0.1")!
    static let key = VirtualServer.Key(address: vip, protocol: .tcp, port: 80)
    /// A family id as the controller might assign it.
    static let family: UInt16 = 0x1c

    @Test("CTRL_CMD_GETFAMILY IPVS")
    func getFamily() {
        let expected: [UInt8] = [
            0x20, 0x00, 0x00, 0x00, // nlmsg_len 32
            0x10, 0x00,             // type GENL_ID_CTRL (0x10)
            0x05, 0x00,             // flags REQUEST|ACK
            0x01, 0x00, 0x00, 0x00, // seq 1
            0x00, 0x00, 0x00, 0x00, // port id 0
            0x03, 0x01, 0x00, 0x00, // genlmsghdr: cmd GETFAMILY (3), version 1, reserved
            0x09, 0x00, 0x02, 0x00, // CTRL_ATTR_FAMILY_NAME (2), len 9
            0x49, 0x50, 0x56, 0x53, //   "IPVS"
            0x00, 0x00, 0x00, 0x00, //   NUL + 3 pad
        ]
        #expect(GenericNetlink.getFamily(name: "IPVS", sequence: 1) == expected)
    }

    /// The service nest carrying only the key (AF, protocol, address, port): 48 bytes.
    static let serviceKeyNest: [UInt8] = [
        0x30, 0x00, 0x01, 0x80, // IPVS_CMD_ATTR_SERVICE (1) | NLA_F_NESTED, len 48
        0x06, 0x00, 0x01, 0x00, //   IPVS_SVC_ATTR_AF (1), len 6
        0x02, 0x00, 0x00, 0x00, //     AF_INET + 2 pad
        0x06, 0x00, 0x02, 0x00, //   IPVS_SVC_ATTR_PROTOCOL (2), len 6
        0x06, 0x00, 0x00, 0x00, //     IPPROTO_TCP + 2 pad
        0x14, 0x00, 0x03, 0x00, //   IPVS_SVC_ATTR_ADDR (3), len 20: union nf_inet_addr
        0x0a, 0x60, 0x00, 0x01, //     10.96.0.1
        0x00, 0x00, 0x00, 0x00, //     zero rest of the union
        0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00,
        0x06, 0x00, 0x04, 0x00, //   IPVS_SVC_ATTR_PORT (4), len 6
        0x00, 0x50, 0x00, 0x00, //     80 in network order + 2 pad
    ]

    @Test("IPVS_CMD_NEW_SERVICE 10.96.0.1:80/TCP rr, not persistent")
    func newService() {
        var expected: [UInt8] = [
            0x68, 0x00, 0x00, 0x00, // nlmsg_len 104
            0x1c, 0x00,             // type: the IPVS family id
            0x05, 0x00,             // flags REQUEST|ACK
            0x07, 0x00, 0x00, 0x00, // seq 7
            0x00, 0x00, 0x00, 0x00, // port id 0
            0x01, 0x01, 0x00, 0x00, // genlmsghdr: IPVS_CMD_NEW_SERVICE (1), version 1
            0x54, 0x00, 0x01, 0x80, // IPVS_CMD_ATTR_SERVICE nested, len 84
        ]
        expected += Self.serviceKeyNest.dropFirst(4)
        expected += [
            0x07, 0x00, 0x06, 0x00, //   IPVS_SVC_ATTR_SCHED_NAME (6), len 7
            0x72, 0x72, 0x00, 0x00, //     "rr\0" + 1 pad
            0x0c, 0x00, 0x07, 0x00, //   IPVS_SVC_ATTR_FLAGS (7), len 12: struct ip_vs_flags
            0x00, 0x00, 0x00, 0x00, //     flags 0
            0xff, 0xff, 0xff, 0xff, //     mask: all flags
            0x08, 0x00, 0x08, 0x00, //   IPVS_SVC_ATTR_TIMEOUT (8)
            0x00, 0x00, 0x00, 0x00, //     0 s
            0x08, 0x00, 0x09, 0x00, //   IPVS_SVC_ATTR_NETMASK (9)
            0xff, 0xff, 0xff, 0xff, //     255.255.255.255
        ]
        let service = VirtualServer(key: Self.key)
        #expect(IPVSMessages.newService(service, family: Self.family, sequence: 7) == expected)
    }

    @Test("IPVS_CMD_SET_SERVICE with ClientIP persistence for 10800 s")
    func persistentService() {
        let bytes = IPVSMessages.setService(VirtualServer(key: Self.key, persistenceTimeout: 10800), family: Self.family, sequence: 9)
        #expect(bytes[16] == 2) // IPVS_CMD_SET_SERVICE
        // The flags, timeout and netmask attributes are the last 28 bytes.
        #expect(Array(bytes.suffix(28)) == [
            0x0c, 0x00, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // flags PERSISTENT, mask all
            0x08, 0x00, 0x08, 0x00, 0x30, 0x2a, 0x00, 0x00,                         // timeout 10800 (0x2a30)
            0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff,                         // netmask
        ])
    }

    @Test("IPVS_CMD_DEL_SERVICE carries only the key")
    func deleteService() {
        let expected: [UInt8] = [
            0x44, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00, // len 68, IPVS family, REQUEST|ACK
            0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 3, port 0
            0x03, 0x01, 0x00, 0x00,                         // IPVS_CMD_DEL_SERVICE (3), version 1
        ] + Self.serviceKeyNest
        #expect(IPVSMessages.deleteService(Self.key, family: Self.family, sequence: 3) == expected)
    }

    @Test("IPVS_CMD_NEW_DEST 10.244.1.5:8080 weight 1, masquerade")
    func newDestination() {
        let destination = RealServer(key: .init(address: NFTables.IPAddress("10.244.1.5")!, port: 8080))
        let expected: [UInt8] = [
            0x8c, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00, // len 140, IPVS family, REQUEST|ACK
            0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // seq 8, port 0
            0x05, 0x01, 0x00, 0x00,                         // IPVS_CMD_NEW_DEST (5), version 1
        ] + Self.serviceKeyNest + [
            0x48, 0x00, 0x02, 0x80, // IPVS_CMD_ATTR_DEST (2) | NLA_F_NESTED, len 72
            0x06, 0x00, 0x0b, 0x00, //   IPVS_DEST_ATTR_ADDR_FAMILY (11), len 6
            0x02, 0x00, 0x00, 0x00, //     AF_INET + 2 pad
            0x14, 0x00, 0x01, 0x00, //   IPVS_DEST_ATTR_ADDR (1), len 20
            0x0a, 0xf4, 0x01, 0x05, //     10.244.1.5
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x02, 0x00, //   IPVS_DEST_ATTR_PORT (2), len 6
            0x1f, 0x90, 0x00, 0x00, //     8080 in network order + 2 pad
            0x08, 0x00, 0x03, 0x00, //   IPVS_DEST_ATTR_FWD_METHOD (3)
            0x00, 0x00, 0x00, 0x00, //     IP_VS_CONN_F_MASQ (0)
            0x08, 0x00, 0x04, 0x00, //   IPVS_DEST_ATTR_WEIGHT (4)
            0x01, 0x00, 0x00, 0x00, //     1
            0x08, 0x00, 0x05, 0x00, //   IPVS_DEST_ATTR_U_THRESH (5)
            0x00, 0x00, 0x00, 0x00,
            0x08, 0x00, 0x06, 0x00, //   IPVS_DEST_ATTR_L_THRESH (6)
            0x00, 0x00, 0x00, 0x00,
        ]
        #expect(IPVSMessages.newDestination(destination, service: Self.key, family: Self.family, sequence: 8) == expected)
    }

    @Test("service and destination dumps set NLM_F_DUMP; flush has no attributes")
    func dumpsAndFlush() {
        let services = IPVSMessages.dumpServices(family: Self.family, sequence: 4)
        #expect(services == [0x14, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                             0x04, 0x01, 0x00, 0x00]) // len 20, REQUEST|ACK|DUMP (0x305), IPVS_CMD_GET_SERVICE (4)
        let destinations = IPVSMessages.dumpDestinations(service: Self.key, family: Self.family, sequence: 5)
        #expect(Array(destinations[6..<8]) == [0x05, 0x03])
        #expect(destinations[16] == 8) // IPVS_CMD_GET_DEST
        #expect(Array(destinations[20...]) == Self.serviceKeyNest)
        #expect(IPVSMessages.flush(family: Self.family, sequence: 6) == [
            0x14, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x05, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
            0x11, 0x01, 0x00, 0x00, // IPVS_CMD_FLUSH (17)
        ])
    }

    @Test("an IPv6 service puts the whole address and a /128 netmask")
    func ipv6Service() {
        let key = VirtualServer.Key(address: NFTables.IPAddress("fd00::a")!, protocol: .udp, port: 53)
        let bytes = IPVSMessages.newService(VirtualServer(key: key), family: Self.family, sequence: 1)
        #expect(Array(bytes[24..<32]) == [0x06, 0x00, 0x01, 0x00, 0x0a, 0x00, 0x00, 0x00]) // AF_INET6
        #expect(Array(bytes[32..<40]) == [0x06, 0x00, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00]) // IPPROTO_UDP
        #expect(Array(bytes[44..<60]) == [0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a])
        #expect(Array(bytes.suffix(4)) == [0x80, 0x00, 0x00, 0x00]) // netmask 128
    }

    /// A kernel dump reply: genlmsghdr, then the nest as ip_vs_genl_fill_service writes it.
    static func reply(command: UInt8, _ body: (NetlinkMessageBuilder) -> Void) -> NetlinkMessage {
        let m = NetlinkMessageBuilder(type: family, flags: 2, sequence: 1)
        m.put(header: GenericNetlinkHeader(command: command, version: 1))
        body(m)
        let bytes = m.bytes
        return NetlinkMessage(type: family, flags: 2, sequence: 1, portID: 0, payload: Array(bytes[16...]))
    }

    @Test("a dumped service parses, without the kernel's HASHED flag")
    func parseService() throws {
        let reply = Self.reply(command: 1) { m in
            m.nest(1) {
                m.put(1, u16: 2)
                m.put(2, u16: 6)
                m.put(3, bytes: [10, 96, 0, 1] + [UInt8](repeating: 0, count: 12))
                m.put(4, be16: 443)
                m.put(6, string: "wrr")
                m.put(7, bytes: [0x03, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]) // PERSISTENT | HASHED
                m.put(8, u32: 600)
                m.put(9, u32: 0xffff_ffff)
            }
        }
        let service = try #require(IPVSMessages.parseService(reply))
        #expect(service.key == VirtualServer.Key(address: Self.vip, protocol: .tcp, port: 443))
        #expect(service.scheduler == "wrr")
        #expect(service.flags == VirtualServer.persistentFlag)
        #expect(service.timeout == 600)
        #expect(service == VirtualServer(key: service.key, scheduler: "wrr", persistenceTimeout: 600))
    }

    @Test("a dumped destination parses with its connection counters")
    func parseDestination() throws {
        let reply = Self.reply(command: 5) { m in
            m.nest(2) {
                m.put(1, bytes: [10, 244, 1, 5] + [UInt8](repeating: 0, count: 12))
                m.put(2, be16: 8080)
                m.put(3, u32: 0)
                m.put(4, u32: 0)
                m.put(7, u32: 2)
                m.put(8, u32: 5)
                m.put(11, u16: 2)
            }
        }
        let destination = try #require(IPVSMessages.parseDestination(reply, serviceFamily: 2))
        #expect(destination.key == RealServer.Key(address: NFTables.IPAddress("10.244.1.5")!, port: 8080))
        #expect(destination.weight == 0)
        #expect(destination.activeConnections == 2)
        #expect(destination.inactiveConnections == 5)
        #expect(destination.connections == 7)
    }

    @Test("malformed replies are skipped, not trusted")
    func parseMalformed() {
        let noPort = Self.reply(command: 1) { m in
            m.nest(1) {
                m.put(1, u16: 2)
                m.put(2, u16: 6)
                m.put(3, bytes: [10, 96, 0, 1])
            }
        }
        #expect(IPVSMessages.parseService(noPort) == nil)
        let badFamily = Self.reply(command: 5) { m in
            m.nest(2) {
                m.put(1, bytes: [10, 244, 1, 5])
                m.put(2, be16: 80)
                m.put(11, u16: 10) // claims IPv6 with a 4-byte address
            }
        }
        #expect(IPVSMessages.parseDestination(badFamily, serviceFamily: 2) == nil)
    }

    @Test("errors name the operation; a missing family says IPVS is absent")
    func errors() {
        let missing = IPVSError(operation: "resolve IPVS family", detail: "IPVS", errno: 2)
        #expect(missing.isUnavailable)
        #expect(missing.description.contains("modprobe ip_vs"))
        let exists = IPVSError(operation: "add service", detail: "10.96.0.1:80/TCP", errno: 17)
        #expect(!exists.isUnavailable)
        #expect(exists.description == "ipvs add service (10.96.0.1:80/TCP): errno 17")
    }
}
