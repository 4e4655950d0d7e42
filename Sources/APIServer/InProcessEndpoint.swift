import KubeAPI
import NIOHTTP1

extension APIServer {
    /// This server's API for clients in the same process (see ``InProcessAPI``), as the cluster
    /// admin: the identity of the admin kubeconfig's client certificate, which is what those
    /// clients presented over HTTPS. The body limit is the server's, as over HTTP.
    public func inProcessEndpoint() -> any InProcessAPI {
        InProcessEndpoint(handler: handler, maxBodyBytes: configuration.maxBodyBytes,
                          user: UserInfo(name: ClusterPKI.adminUser, groups: [ClusterPKI.adminGroup, "system:authenticated"]))
    }
}

/// Hands a request straight to the ``APIHandler``, as `APIConnectionHandler` does once it has
/// read one from a connection.
struct InProcessEndpoint: InProcessAPI {
    let handler: APIHandler
    let maxBodyBytes: Int
    let user: UserInfo

    func respond(to request: InProcessRequest) async -> InProcessResponse {
        let method = HTTPMethod(rawValue: request.method)
        let response: APIResponse
        if request.body.count > maxBodyBytes {
            response = .error(.tooLarge(limit: maxBodyBytes))
        } else {
            let answer = await handler.handle(APIRequest(method: method, uri: request.uri, headers: HTTPHeaders(request.headers), body: request.body, user: user))
            // exec, attach and port-forward take over a connection, which there is not here.
            response = answer.upgrade == nil ? answer
                : .error(.badRequest("\(request.method) \(request.uri): streaming subresources need a connection to the API server, not an in-process client"))
        }
        var headers = [("Content-Type", response.contentType)]
        headers.append(contentsOf: response.headers)
        switch response.body {
        case .bytes(let bytes): return InProcessResponse(status: Int(response.status.code), headers: headers, body: .bytes(method == .HEAD ? [] : bytes))
        case .stream(let chunks): return InProcessResponse(status: Int(response.status.code), headers: headers, body: .stream(chunks))
        }
    }
}
