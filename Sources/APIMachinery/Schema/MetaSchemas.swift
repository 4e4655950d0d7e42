/// meta/v1 structures every kind uses (apimachinery's pkg/apis/meta/v1).
enum MetaSchemas {
    static let ownerReference = meta("OwnerReference", "Identifies an object that owns this one.", atomic: true, [
        str("apiVersion", "API version of the owner."),
        str("kind", "Kind of the owner."),
        str("name", "Name of the owner."),
        str("uid", "UID of the owner."),
        bool("controller", "True when the owner is the managing controller."),
        bool("blockOwnerDeletion", "True when the owner cannot be deleted before this object is gone."),
    ])

    static let managedFieldsEntry = meta("ManagedFieldsEntry", "The set of fields one manager owns, and how it last wrote them.", [
        str("manager", "Name of the workflow managing these fields."),
        str("operation", "Apply or Update: the kind of write that last changed this entry."),
        str("apiVersion", "Version of the fields set, used to interpret fieldsV1."),
        time("time", "When the entry was last changed."),
        str("fieldsType", "Format of the field set; only FieldsV1."),
        anyValue("fieldsV1", "The owned fields in FieldsV1 form."),
        str("subresource", "The subresource written, empty for the main resource."),
    ])

    static let objectMeta = meta("ObjectMeta", "Metadata every persisted resource has.", [
        str("name", "Unique name within the namespace."),
        str("generateName", "Prefix the server completes to a unique name when name is empty."),
        str("namespace", "Namespace the object lives in."),
        str("selfLink", "Deprecated; not set by the server."),
        str("uid", "Unique identifier the server assigns on creation."),
        str("resourceVersion", "Opaque version the server changes on every write."),
        int64("generation", "Sequence number of the desired state, bumped on spec changes."),
        time("creationTimestamp", "When the object was created."),
        time("deletionTimestamp", "When the object will be deleted; set on graceful deletion."),
        int64("deletionGracePeriodSeconds", "Grace period the deletion was requested with."),
        stringMap("labels", "Key/value pairs for selecting and organising objects."),
        stringMap("annotations", "Key/value pairs for tools; not used for selection."),
        list("ownerReferences", ownerReference, "Objects this one depends on.").keyed("uid", mergeKey: "uid"),
        strings("finalizers", "Conditions that must clear before the object is deleted.").set(merge: true),
        list("managedFields", managedFieldsEntry, "Which manager owns which fields.").atomic(),
    ])

    static let listMeta = meta("ListMeta", "Metadata of a list response.", [
        str("selfLink", "Deprecated; not set by the server."),
        str("resourceVersion", "Version of the store this list was read at."),
        str("continue", "Token to fetch the next page, when more items remain."),
        int64("remainingItemCount", "Items left after this page, when known."),
    ])

    static let labelSelectorRequirement = meta("LabelSelectorRequirement", "One label test: a key, an operator and values.", [
        str("key", "The label key the requirement applies to."),
        str("operator", "In, NotIn, Exists or DoesNotExist."),
        strings("values", "Values for In and NotIn; empty otherwise.").atomic(),
    ])

    static let labelSelector = meta("LabelSelector", "Selects objects by their labels.", atomic: true, [
        stringMap("matchLabels", "Labels that must all be present with these values."),
        list("matchExpressions", labelSelectorRequirement, "Requirements that must all hold.").atomic(),
    ])

    static let condition = meta("Condition", "One aspect of an object's current state.", [
        str("type", "Condition type in CamelCase."),
        str("status", "True, False or Unknown."),
        int64("observedGeneration", "Generation the condition was computed for."),
        time("lastTransitionTime", "When the status last changed."),
        str("reason", "Machine-readable CamelCase reason for the last transition."),
        str("message", "Human-readable detail about the transition."),
    ])

    static let statusCause = meta("StatusCause", "One reason a request failed, with the field it concerns.", [
        str("reason", "Machine-readable cause, e.g. FieldValueInvalid."),
        str("message", "Human-readable description of the cause."),
        str("field", "Path of the field that caused the error."),
    ])

    static let statusDetails = meta("StatusDetails", "Extra data about a failed request.", [
        str("name", "Name of the resource concerned."),
        str("group", "API group of the resource."),
        str("kind", "Kind of the resource."),
        str("uid", "UID of the resource."),
        list("causes", statusCause, "The individual causes of the error.").atomic(),
        int32("retryAfterSeconds", "Seconds to wait before retrying."),
    ])

    static let status = metaKind("Status", "The result of a call that does not return an object.", [
        str("status", "Success or Failure."),
        str("message", "Human-readable description of the status."),
        str("reason", "Machine-readable CamelCase reason, e.g. NotFound."),
        object("details", statusDetails, "Extended data for the reason."),
        int32("code", "HTTP status code of this status."),
    ], listMetadata: true)

    static let preconditions = meta("Preconditions", "Conditions that must hold before a delete runs.", [
        str("uid", "The object's expected UID."),
        str("resourceVersion", "The object's expected resourceVersion."),
    ])

    static let deleteOptions = metaKind("DeleteOptions", "Options for a delete request.", [
        int64("gracePeriodSeconds", "Seconds before the object is deleted; 0 deletes at once."),
        object("preconditions", preconditions, "Must hold or the delete fails with a conflict."),
        bool("orphanDependents", "Deprecated; use propagationPolicy."),
        str("propagationPolicy", "Orphan, Background or Foreground garbage collection."),
        strings("dryRun", "When All, nothing is persisted.").atomic(),
        bool("ignoreStoreReadErrorWithClusterBreakingPotential", "Deletes a corrupt object unsafely."),
    ], listMetadata: false)

    static let tableColumnDefinition = meta("TableColumnDefinition", "One column of a table response.", [
        str("name", "Column header."),
        str("type", "OpenAPI type of the cells: string, integer, number, boolean, date."),
        str("format", "OpenAPI format hint, e.g. name."),
        str("description", "What the column shows."),
        int32("priority", "0 for always shown, higher for wide output only."),
    ])

    static let tableRowCondition = meta("TableRowCondition", "A condition of a table row.", [
        str("type", "Condition type, e.g. Completed."),
        str("status", "True, False or Unknown."),
        str("reason", "Machine-readable reason."),
        str("message", "Human-readable detail."),
    ])

    static let tableRow = meta("TableRow", "One row of a table response.", [
        FieldSchema(name: "cells", type: .array(.any), description: "Cell values, one per column.").atomic(),
        list("conditions", tableRowCondition, "Conditions of the row's object.").atomic(),
        anyValue("object", "The object the row shows, in the requested includeObject form."),
    ])

    static let table = metaKind("Table", "A tabular view of objects, as kubectl get shows them.", [
        list("columnDefinitions", tableColumnDefinition, "The columns, in order.").atomic(),
        list("rows", tableRow, "The rows, one per object.").atomic(),
    ], listMetadata: true)
}
