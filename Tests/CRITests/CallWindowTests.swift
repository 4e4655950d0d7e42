@testable import CRI
import Testing

/// The per-connection call budget that keeps containerd's PINGs under swift-nio-http2's
/// control-frame limit (CRIConnectionBudget).
struct CallWindowTests {
    let start = ContinuousClock.now

    /// Offers calls at `seconds` after `start`; returns which were admitted.
    private func admitted(_ window: inout CallWindow, _ seconds: [Double]) -> [Bool] {
        seconds.map { window.admit(at: start + .milliseconds(Int(($0 * 1000).rounded()))) }
    }

    @Test func admitsTheBudgetThenRefusesWithinTheWindow() {
        var window = CallWindow(budget: CRIConnectionBudget(callsPerWindow: 3, window: .seconds(30)))
        let results = admitted(&window, [0, 1, 2, 29])
        #expect(results == [true, true, true, false])
        #expect(window.count == 3)
    }

    @Test(arguments: [
        // (seconds after the first of three calls, admitted?)
        (29.9, false), (30.0, true), (45.0, true),
    ])
    func theOldestCallLeavesTheWindow(after seconds: Double, admitted expected: Bool) {
        var window = CallWindow(budget: CRIConnectionBudget(callsPerWindow: 3, window: .seconds(30)))
        let results = admitted(&window, [0, 0.001, 0.002, seconds])
        #expect(results == [true, true, true, expected])
    }

    @Test func slidesCallByCall() {
        var window = CallWindow(budget: CRIConnectionBudget(callsPerWindow: 2, window: .seconds(10)))
        // 10 s: the call at 0 s has left; 14 s: those at 5 s and 10 s are within 10 s;
        // 15 s: the call at 5 s has left; 19 s: 10 s and 15 s are within.
        let results = admitted(&window, [0, 5, 10, 14, 15, 19])
        #expect(results == [true, true, true, false, true, false])
    }

    @Test func resetStartsAFreshConnection() {
        var window = CallWindow(budget: CRIConnectionBudget(callsPerWindow: 1, window: .seconds(30)))
        let before = admitted(&window, [0, 1])
        window.reset()
        let count = window.count
        let after = admitted(&window, [1])
        #expect(before == [true, false])
        #expect(count == 0)
        #expect(after == [true])
    }

    @Test func budgetHasAtLeastOneCall() {
        #expect(CRIConnectionBudget(callsPerWindow: 0, window: .seconds(1)).callsPerWindow == 1)
        // Two frames per call (a PING for the message and one for END_STREAM) plus the SETTINGS
        // exchange stay within NIO's 200 per 30 s.
        let containerd = CRIConnectionBudget.containerd
        #expect(containerd.callsPerWindow * 2 + 2 <= 200 && containerd.window >= .seconds(30))
    }
}
