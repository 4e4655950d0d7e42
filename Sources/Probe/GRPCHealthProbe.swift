import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf

/// gRPC probes: one `grpc.health.v1.Health/Check` call over plaintext HTTP/2, as upstream's
/// kubelet makes (no TLS, no authority override).
enum GRPCHealthProbe {
    static func check(host: String, port: Int, service: String, timeout: Duration) async -> ProbeOutcome {
        let address = ProbeTarget.hostPort(host, port)
        do {
            let transport = try HTTP2ClientTransport.Posix(
                target: host.contains(":") ? .ipv6(address: host, port: port) : .ipv4(address: host, port: port),
                transportSecurity: .plaintext
            )
            let status = try await withTimeout(timeout) {
                try await withGRPCClient(transport: transport) { client in
                    let health = Grpc_Health_V1_Health.Client(wrapping: client)
                    var request = Grpc_Health_V1_HealthCheckRequest()
                    request.service = service
                    var options = CallOptions.defaults
                    options.timeout = timeout
                    return try await health.check(request, options: options).status
                }
            }
            if status == .serving {
                return ProbeOutcome(result: .success, message: "service is SERVING")
            }
            return ProbeOutcome(result: .failure, message: "service unhealthy (responded with \"\(name(status))\")")
        } catch is TimeoutError {
            return ProbeOutcome(result: .failure, message: "timeout: health rpc did not complete within \(timeout)")
        } catch let error as RPCError {
            if error.code == .deadlineExceeded {
                return ProbeOutcome(result: .failure, message: "timeout: health rpc did not complete within \(timeout)")
            }
            return ProbeOutcome(result: .failure, message: "error: health rpc probe failed: \(error.code): \(error.message) (\(address))")
        } catch {
            return ProbeOutcome(result: .failure, message: "error: failed to connect service \"\(address)\": \(error)")
        }
    }

    static func name(_ status: Grpc_Health_V1_HealthCheckResponse.ServingStatus) -> String {
        switch status {
        case .unknown: return "UNKNOWN"
        case .serving: return "SERVING"
        case .notServing: return "NOT_SERVING"
        case .serviceUnknown: return "SERVICE_UNKNOWN"
        case .UNRECOGNIZED(let n): return "UNRECOGNIZED(\(n))"
        }
    }
}
