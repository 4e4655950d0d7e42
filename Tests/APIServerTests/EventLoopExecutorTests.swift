import APIServer
import Testing

/// The choice of executor from the environment. Installing the event loops is process-wide and
/// for good, so these tests leave it alone: the leader-election integration test runs one of its
/// `nodekit server`s on them (and checks its start-up line), and hollow-bench and apiserver-bench
/// print what they ran on.
@Suite struct EventLoopExecutorTests {
    @Test func thePoolIsTheDefault() throws {
        #expect(try EventLoopExecutor.choice(environment: [:]) == .pool)
        #expect(try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": ""]) == .pool)
        #expect(try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": "pool"]) == .pool)
        #expect(try EventLoopExecutor.install(environment: [:]) == "Swift's cooperative pool")
        #expect(try EventLoopExecutor.install(environment: ["NODEKIT_EXECUTOR": "pool"]) == "Swift's cooperative pool")
    }

    @Test func eventLoopsIsChosenByName() throws {
        #expect(try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": "event-loops"]) == .eventLoops)
    }

    @Test func anUnknownValueIsAnErrorThatNamesTheChoices() {
        for value in ["Pool", "eventloops", "nio", " pool"] {
            #expect {
                try EventLoopExecutor.choice(environment: ["NODEKIT_EXECUTOR": value])
            } throws: { error in
                (error as? EventLoopExecutor.InvalidChoice)?.description == "NODEKIT_EXECUTOR must be pool or event-loops, not \"\(value)\""
            }
        }
    }
}
