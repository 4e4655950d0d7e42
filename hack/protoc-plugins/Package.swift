// swift-tools-version: 6.1
// Builds the protoc plugins used by `make protos`, from the pinned dependency versions.
// Only developers regenerating code need this; CI and `make test` never build it.
import PackageDescription

let package = Package(
    name: "NodekitProtocPlugins",
    dependencies: [
        .package(url: "https://github.com/apple/swift-protobuf.git", exact: "1.39.0"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", exact: "2.4.1"),
    ],
    targets: []
)
