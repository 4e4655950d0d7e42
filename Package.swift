// swift-tools-version: 6.1
// Nodekit: a Kubernetes node toolkit for Linux. See README.md and docs/ for the layout.
import PackageDescription

let grpc: [Target.Dependency] = [
    .product(name: "GRPCCore", package: "grpc-swift-2"),
    .product(name: "GRPCNIOTransportHTTP2Posix", package: "grpc-swift-nio-transport"),
    .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
    .product(name: "SwiftProtobuf", package: "swift-protobuf"),
]
let argumentParser: Target.Dependency = .product(name: "ArgumentParser", package: "swift-argument-parser")
let logging: Target.Dependency = .product(name: "Logging", package: "swift-log")
let yams: Target.Dependency = .product(name: "Yams", package: "Yams")
let nioPosix: Target.Dependency = .product(name: "NIOPosix", package: "swift-nio")
let nioHTTP1: Target.Dependency = .product(name: "NIOHTTP1", package: "swift-nio")
let nioSSL: Target.Dependency = .product(name: "NIOSSL", package: "swift-nio-ssl")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let x509: Target.Dependency = .product(name: "X509", package: "swift-certificates")
let nioWebSocket: Target.Dependency = .product(name: "NIOWebSocket", package: "swift-nio")

let package = Package(
    name: "Nodekit",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "nodekit", targets: ["nodekit"]),
        .executable(name: "nodectl", targets: ["nodectl"]),
        .executable(name: "nodekit-cni", targets: ["nodekit-cni"]),
    ],
    dependencies: [
        .package(url: "https://github.com/grpc/grpc-swift-2.git", exact: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", exact: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // The CRI client watches its HTTP/2 connection (frames, errors) for the kubelet's logs.
        .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"4.0.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // The API server's CA, serving and client certificates are generated on first start.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    ],
    targets: [
        // MARK: C libraries (system-library targets resolved through pkg-config; apt names the providers)
        .systemLibrary(name: "CMnl", pkgConfig: "libmnl", providers: [.apt(["libmnl-dev"])]),
        .systemLibrary(name: "CNftnl", pkgConfig: "libnftnl", providers: [.apt(["libnftnl-dev"])]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
        // mimalloc replaces malloc in the serving executables (see Sources/ProcessAllocator); Debian
        // ships no pkg-config file for it, and its header and library are on the default paths.
        .systemLibrary(name: "CMimalloc", providers: [.apt(["libmimalloc-dev"])]),
        // The one C shim: macros, variadic and inline libc/kernel helpers Swift cannot call directly.
        .target(name: "CNodekitShim"),

        // MARK: Kernel and host boundary
        .target(name: "LinuxSystem", dependencies: ["CNodekitShim", "CCap", "CSeccomp"]),
        .target(name: "ProcessAllocator", dependencies: ["CMimalloc"]),
        .target(name: "Netlink", dependencies: ["LinuxSystem", "CMnl", "CNodekitShim"]),
        .target(name: "NFTables", dependencies: ["CNftnl", "CMnl", "Netlink"]),
        .target(name: "IPTables", dependencies: ["LinuxSystem", "NFTables", "CNftnl", "CMnl"]),
        .target(name: "Proxy", dependencies: ["KubeAPI", "KubeClient", "Netlink", "NFTables", "IPTables", "IPVS", crypto, logging, nioPosix, nioHTTP1]),

        // MARK: Runtime and images
        .target(name: "CRI", dependencies: grpc + [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOHTTP2", package: "swift-nio-http2")]),
        .target(name: "OCIImage", dependencies: [crypto]),
        .target(name: "CNI", dependencies: ["Netlink", "LinuxSystem", "NFTables"]),

        // MARK: Kubernetes API
        .target(name: "KubeAPI", dependencies: [yams]),
        // Startup, liveness and readiness probes: one library for the kubelet and `nodectl probe`.
        .target(name: "Probe", dependencies: ["KubeAPI", nioPosix, nioHTTP1, nioSSL] + grpc),
        // The kubelet: pod sources, pod workers, PLEG, status, volumes and its HTTP endpoints.
        .target(name: "Kubelet", dependencies: ["CRI", "KubeAPI", "KubeClient", "Probe", "LinuxSystem", "UpgradeProxy", logging, nioPosix, nioHTTP1, crypto]),
        // Relays HTTP upgrade requests (exec, attach, port-forward) byte for byte: API server to kubelet to runtime.
        .target(name: "UpgradeProxy", dependencies: [nioPosix, nioHTTP1]),

        // MARK: Control plane
        .target(name: "Store", dependencies: ["LinuxSystem"]),
        .target(name: "EtcdStore", dependencies: ["Store"] + grpc),
        .target(name: "Scheduler", dependencies: ["KubeAPI"]),
        // Pure API machinery: patches (merge, strategic, JSON), server-side apply, type schemas,
        // field validation and OpenAPI documents. No I/O.
        .target(name: "APIMachinery", dependencies: ["KubeAPI"]),
        // NIO handlers the API server and the client share (TLS record coalescing); NIOCore only,
        // so neither side depends on the other for them.
        .target(name: "NIORecords", dependencies: [.product(name: "NIOCore", package: "swift-nio")]),
        // The Kubernetes REST API over a Store: HTTPS, authn, discovery, CRUD, watch, subresources.
        .target(name: "APIServer", dependencies: ["KubeAPI", "APIMachinery", "Store", "EtcdStore", "UpgradeProxy", "NIORecords", nioPosix, nioHTTP1, nioSSL, nioWebSocket, x509, crypto, logging]),
        // REST client, kubeconfig and informers, used by every component that talks to an API server.
        .target(name: "KubeClient", dependencies: ["KubeAPI", "NIORecords", nioPosix, nioHTTP1, nioSSL, yams, logging]),
        // Controllers and the node agent's control loops, written against KubeClient.
        .target(name: "Controllers", dependencies: ["KubeAPI", "KubeClient", "Scheduler", logging]),
        // IPVS over generic netlink (libmnl).
        .target(name: "IPVS", dependencies: ["Netlink", "LinuxSystem", "CMnl", "NFTables"]),

        // MARK: Tools
        .target(name: "NodectlKit", dependencies: ["CRI", "CNI", argumentParser, yams, .product(name: "SwiftProtobuf", package: "swift-protobuf"), "Proxy", "NFTables", "IPTables", "IPVS", "LinuxSystem", "Netlink", nioPosix, "KubeAPI", "KubeClient", "Kubelet", "Probe"]),
        .target(name: "TestSupport", dependencies: ["CRI", "Store", "NFTables", "IPTables", "LinuxSystem", "IPVS", "KubeAPI", "KubeClient", "APIMachinery"]),

        // MARK: Executables (argument parsing and logging bootstrap only)
        .executableTarget(name: "nodekit", dependencies: ["ProcessAllocator", "OCIImage", "CRI", "Kubelet", "Proxy", "NFTables", "APIServer", "KubeClient", "IPTables", "Controllers", "LinuxSystem", "Netlink", argumentParser, logging]),
        .executableTarget(name: "nodectl", dependencies: ["NodectlKit", argumentParser]),
        .executableTarget(name: "nodekit-cni", dependencies: ["CNI"]),
        .executableTarget(name: "scheduler-bench", dependencies: ["Scheduler", "KubeAPI"], path: "Benchmarks/scheduler-bench"),
        .executableTarget(name: "hollow-bench", dependencies: ["ProcessAllocator", "APIServer", "Store", "Controllers", "KubeClient", "KubeAPI", logging], path: "Benchmarks/hollow-bench"),
        .executableTarget(name: "store-bench", dependencies: ["Store", "EtcdStore"], path: "Benchmarks/store-bench"),
        .executableTarget(name: "kubelet-bench", dependencies: ["Kubelet", "CRI", "KubeAPI", "TestSupport"], path: "Benchmarks/kubelet-bench"),
        .executableTarget(name: "apiserver-bench", dependencies: ["APIServer", "KubeClient", "KubeAPI", "Store", "EtcdStore", "TestSupport"], path: "Benchmarks/apiserver-bench"),

        // MARK: Tests (Swift Testing). Integration needs root, containerd, netns; it skips without them.
        .testTarget(name: "CRITests", dependencies: ["CRI", "TestSupport"]),
        .testTarget(name: "OCIImageTests", dependencies: ["OCIImage"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink"]),
        .testTarget(name: "IPVSTests", dependencies: ["IPVS", "Netlink", "Proxy", "NFTables", "TestSupport"]),
        .testTarget(name: "CNITests", dependencies: ["CNI", "TestSupport"]),
        .testTarget(name: "KubeAPITests", dependencies: ["KubeAPI", "TestSupport"]),
        .testTarget(name: "SchedulerTests", dependencies: ["Scheduler", "KubeAPI"]),
        .testTarget(name: "ProxyTests", dependencies: ["Proxy", "NFTables", "KubeAPI", "TestSupport"], exclude: ["Golden"]),
        .testTarget(name: "ProbeTests", dependencies: ["Probe", nioPosix, nioHTTP1] + grpc),
        .testTarget(name: "KubeletTests", dependencies: ["Kubelet", "CRI", "KubeAPI", "KubeClient", "Probe", "TestSupport", "LinuxSystem"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "EtcdStore", "KubeAPI", "TestSupport"]),
        .testTarget(name: "APIMachineryTests", dependencies: ["APIMachinery", "KubeAPI", "TestSupport"]),
        .testTarget(name: "APIServerTests", dependencies: ["ProcessAllocator", "APIServer", "APIMachinery", "KubeAPI", "Store", "TestSupport"]),
        .testTarget(name: "KubeClientTests", dependencies: ["KubeClient", "KubeAPI", "TestSupport", "APIServer", "Store", "Controllers", "NIORecords", nioPosix, nioHTTP1, .product(name: "NIOEmbedded", package: "swift-nio")]),
        .testTarget(name: "ControllersTests", dependencies: ["Controllers", "KubeClient", "KubeAPI", "TestSupport"]),
        .testTarget(name: "NodectlKitTests", dependencies: ["NodectlKit", "TestSupport"]),
        .testTarget(name: "IntegrationTests", dependencies: ["CRI", "CNI", "OCIImage", "Store", "EtcdStore", "NodectlKit", "TestSupport", "LinuxSystem", "Netlink", "Proxy", "NFTables", "Kubelet", "IPVS", "APIServer"]),
    ]
)

// Release builds of the API server's path optimize across module boundaries, so that generic code
// in KubeAPI, Store and the rest is specialized where it is called (docs/scheduler-bench.md,
// nineteenth session, has the measurement).
let crossModuleOptimized: Set<String> = ["KubeAPI", "APIMachinery", "APIServer", "Store", "KubeClient", "Controllers", "Scheduler", "NIORecords", "hollow-bench", "apiserver-bench"]
for target in package.targets where crossModuleOptimized.contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(["-cross-module-optimization"], .when(configuration: .release))]
}
