/// APIMachinery: the pure parts of the Kubernetes API semantics (issue 6).
public enum APIMachinery {}
