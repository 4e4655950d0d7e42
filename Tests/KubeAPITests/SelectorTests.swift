import Testing
@testable import KubeAPI

struct SelectorTests {
    static let labels = ["app": "web", "tier": "front"]

    @Test(arguments: [
        (LabelSelector(), true),
        (LabelSelector(matchLabels: ["app": "web"]), true),
        (LabelSelector(matchLabels: ["app": "db"]), false),
        (LabelSelector(matchExpressions: [.init(key: "tier", operator: "In", values: ["front", "back"])]), true),
        (LabelSelector(matchExpressions: [.init(key: "tier", operator: "NotIn", values: ["front"])]), false),
        (LabelSelector(matchExpressions: [.init(key: "zone", operator: "NotIn", values: ["a"])]), true),
        (LabelSelector(matchExpressions: [.init(key: "zone", operator: "Exists")]), false),
        (LabelSelector(matchExpressions: [.init(key: "zone", operator: "DoesNotExist")]), true),
        (LabelSelector(matchLabels: ["app": "web"], matchExpressions: [.init(key: "tier", operator: "Exists")]), true),
        (LabelSelector(matchExpressions: [.init(key: "tier", operator: "Bogus")]), false),
    ])
    func matches(selector: LabelSelector, expected: Bool) {
        #expect(selector.matches(Self.labels) == expected)
    }
}
