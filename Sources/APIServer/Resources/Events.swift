import KubeAPI

/// core/v1 events (what `kubectl describe` shows under Events).
enum Events {
    static let definition = ResourceDefinition(
        group: "", version: "v1", kind: "Event", plural: "events", shortNames: ["ev"],
        columns: [
            TableColumn("Last Seen") { o, now in .string(Timestamp.age(o["lastTimestamp"]?.stringValue ?? o["eventTime"]?.stringValue ?? o.metadata["creationTimestamp"]?.stringValue, now: now)) },
            TableColumn("Type") { o, _ in .string(o["type"]?.stringValue ?? "") },
            TableColumn("Reason") { o, _ in .string(o["reason"]?.stringValue ?? "") },
            TableColumn("Object") { o, _ in
                .string("\((o[path: ["involvedObject", "kind"]]?.stringValue ?? "").lowercased())/\(o[path: ["involvedObject", "name"]]?.stringValue ?? "")")
            },
            TableColumn("Message") { o, _ in .string(o["message"]?.stringValue ?? "") },
        ],
        fieldSelectors: [
            "involvedObject.kind": { $0[path: ["involvedObject", "kind"]]?.stringValue ?? "" },
            "involvedObject.namespace": { $0[path: ["involvedObject", "namespace"]]?.stringValue ?? "" },
            "involvedObject.name": { $0[path: ["involvedObject", "name"]]?.stringValue ?? "" },
            "involvedObject.uid": { $0[path: ["involvedObject", "uid"]]?.stringValue ?? "" },
            "involvedObject.apiVersion": { $0[path: ["involvedObject", "apiVersion"]]?.stringValue ?? "" },
            "involvedObject.resourceVersion": { $0[path: ["involvedObject", "resourceVersion"]]?.stringValue ?? "" },
            "involvedObject.fieldPath": { $0[path: ["involvedObject", "fieldPath"]]?.stringValue ?? "" },
            "reason": { $0["reason"]?.stringValue ?? "" },
            "reportingComponent": { $0["reportingComponent"]?.stringValue ?? "" },
            "source": { $0[path: ["source", "component"]]?.stringValue ?? "" },
            "type": { $0["type"]?.stringValue ?? "" },
        ]
    )
}
