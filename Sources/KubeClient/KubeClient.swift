/// KubeClient: REST client, kubeconfig and informers (issue 7).
public enum KubeClientModule {}
