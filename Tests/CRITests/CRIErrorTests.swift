import CRI
import Testing

@Suite struct CRIErrorTests {
    @Test(arguments: [
        (CRIError.runtime(.runPodSandbox, .notFound, "image \"pause\" not found"),
         "CRI RunPodSandbox: notFound: image \"pause\" not found"),
        (CRIError(call: .version, kind: .socketMissing, message: "no such file", endpoint: "/x.sock"),
         "CRI Version: cannot reach the container runtime at /x.sock: no such file"),
        (CRIError(call: .listContainers, kind: .unreachable, message: "connection refused", endpoint: "/x.sock"),
         "CRI ListContainers: cannot reach the container runtime at /x.sock: connection refused"),
        (CRIError(call: .execSync, kind: .deadlineExceeded, message: "no answer within 2 s", endpoint: "/x.sock"),
         "CRI ExecSync: deadlineExceeded: no answer within 2 s"),
        (CRIError(call: nil, kind: .invalidEndpoint, message: "empty endpoint", endpoint: ""),
         "CRI: invalid runtime endpoint \"\": empty endpoint"),
    ])
    func descriptionNamesCallAndStatus(error: CRIError, expected: String) {
        #expect(error.description == expected)
    }

    @Test func notFoundIsRecognised() {
        #expect(CRIError.runtime(.removeContainer, .notFound, "gone").isNotFound)
        #expect(!CRIError.runtime(.removeContainer, .unknown, "gone").isNotFound)
        #expect(!CRIError(call: .version, kind: .socketMissing, message: "", endpoint: "/x").isNotFound)
    }

    @Test func statusCodesUseGRPCSwiftNames() {
        #expect(CRIError.StatusCode.allCases.count == 16)
        #expect(CRIError.StatusCode(rawValue: "failedPrecondition") == .failedPrecondition)
        #expect(CRIError.StatusCode(rawValue: "internalError") == .internalError)
    }

    @Test func timeoutsResolvePerCall() {
        var timeouts = CRITimeouts()
        #expect(timeouts[.version] == .seconds(10))
        #expect(timeouts[.runPodSandbox] == .seconds(120))
        #expect(timeouts[.pullImage] == .seconds(600))
        timeouts[.version] = .milliseconds(500)
        #expect(timeouts[.version] == .milliseconds(500))
        #expect(timeouts[.status] == .seconds(10))
        let uniform = CRITimeouts.uniform(.seconds(3))
        #expect(CRICall.allCases.allSatisfy { uniform[$0] == .seconds(3) })
    }
}
