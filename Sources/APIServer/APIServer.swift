/// APIServer: the Kubernetes REST API over a Store (issue 6).
public enum APIServerModule {}
