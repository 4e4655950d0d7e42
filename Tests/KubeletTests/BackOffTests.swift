import Foundation
import Kubelet
import Testing

@Suite struct BackOffTests {
    @Test func crashLoopDelaysDoubleToTheCapAndResetAfterTenMinutes() {
        var backOff = BackOff()
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        var delays: [Int] = []
        var t = t0
        for _ in 0..<7 {
            delays.append(Int(backOff.next("app", eventTime: t).components.seconds))
            t += 1
        }
        #expect(delays == [10, 20, 40, 80, 160, 300, 300])
        // An event more than 2 × 300 s after the previous one starts over.
        #expect(backOff.next("app", eventTime: t + 601).components.seconds == 10)
    }
}
