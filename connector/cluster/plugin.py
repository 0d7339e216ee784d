"""Hook implementations of the cluster subsystem, registered as an essential core plugin."""
