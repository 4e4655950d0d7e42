import CRI
import Testing

@Suite struct RuntimeEndpointTests {
    @Test(arguments: [
        ("unix:///run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
        ("/run/containerd/containerd.sock", "/run/containerd/containerd.sock"),
        ("  unix:///tmp/x.sock  ", "/tmp/x.sock"),
        ("unix:///tmp/dir/", "/tmp/dir"),
    ])
    func parsesUnixEndpoints(text: String, path: String) throws {
        let endpoint = try RuntimeEndpoint(parsing: text)
        #expect(endpoint.path == path)
        #expect(endpoint.url == "unix://" + path)
    }

    @Test(arguments: [
        ("tcp://127.0.0.1:1234", "scheme \"tcp\" is not supported"),
        ("npipe:////./pipe/containerd", "scheme \"npipe\" is not supported"),
        ("", "empty endpoint"),
        ("containerd.sock", "not an absolute socket path"),
        ("unix://run/containerd.sock", "must be absolute"),
        ("/" + String(repeating: "a", count: 120), "longer than the 107"),
    ])
    func rejectsOtherEndpoints(text: String, fragment: String) {
        #expect {
            _ = try RuntimeEndpoint(parsing: text)
        } throws: { error in
            guard let error = error as? CRIError, error.kind == .invalidEndpoint else { return false }
            return error.description.contains(fragment) && error.description.contains("invalid runtime endpoint")
        }
    }

    @Test(arguments: [
        ([String: String](), "/run/nodekit/containerd/containerd.sock"),
        (["NODEKIT_STATE_DIR": ""], "/run/nodekit/containerd/containerd.sock"),
        (["NODEKIT_STATE_DIR": "/tmp/nk-1"], "/tmp/nk-1/containerd/containerd.sock"),
        (["NODEKIT_STATE_DIR": "/tmp/nk-2/"], "/tmp/nk-2/containerd/containerd.sock"),
    ])
    func nodekitDefaultFollowsStateDir(environment: [String: String], path: String) throws {
        #expect(try RuntimeEndpoint.nodekitDefault(environment: environment).path == path)
    }

    @Test func nodekitDefaultRejectsRelativeStateDir() {
        #expect(throws: CRIError.self) {
            _ = try RuntimeEndpoint.nodekitDefault(environment: ["NODEKIT_STATE_DIR": "state"])
        }
    }
}
