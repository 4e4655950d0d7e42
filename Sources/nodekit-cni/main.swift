// nodekit-cni: the CNI plugin executable. Reads CNI_* from the environment and the network
// config from stdin, prints the result or error JSON on stdout, exits non-zero on error.
#if canImport(Glibc)
import Glibc
#endif
import CNI

var environment: [String: String] = [:]
var entry = environ
while let pointer = entry.pointee {
    let pair = String(cString: pointer)
    if let eq = pair.firstIndex(of: "=") { environment[String(pair[..<eq])] = String(pair[pair.index(after: eq)...]) }
    entry += 1
}

var input: [UInt8] = []
var chunk = [UInt8](repeating: 0, count: 65536)
while true {
    let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
    if n > 0 { input.append(contentsOf: chunk[0..<n]); continue }
    if n < 0 && errno == EINTR { continue }
    break
}

let output = PluginCommand.run(environment: environment, stdin: input, kernel: LinuxPodNetworkKernel())
if !output.stdout.isEmpty { print(output.stdout) }
exit(output.exitCode)
