/// Controllers: the control loops of the light control plane (issue 7).
public enum ControllersModule {}
