import APIServer
import Testing

/// The choice of executor from the environment. Installing it is process-wide and for good, so
/// these tests leave it alone: the whole-cluster integration test runs `nodekit server` with it
/// (and checks its start-up line), and hollow-bench and apiserver-bench print what they ran on.
@Suite struct EventLoopExecutorTests {
    @Test func theEventLoopsAreTheDefault() throws {
        #expect(try EventLoopExecutor.choice(environment: [:]) == .eventLoops)
        #expect(try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": ""]) == .eventLoops)
        #expect(try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": "event-loops"]) == .eventLoops)
    }

    @Test func poolKeepsSwiftsCooperativePool() throws {
        #expect(try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": "pool"]) == .pool)
        #expect(try EventLoopExecutor.install(environment: ["NODEKIT_EXECUTOR": "pool"]) == "Swift's cooperative pool (NODEKIT_EXECUTOR=pool)")
    }

    @Test func anUnknownValueIsAnErrorThatNamesTheChoices() {
        for value in ["Pool", "eventloops", "nio", " pool"] {
            #expect {
                try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": value])
            } throws: { error in
                (error as? EventLoopExecutor.InvalidChoice)?.description == "NODEKIT_EXECUTOR must be event-loops or pool, not \"\(value)\""
            }
        }
    }
}
