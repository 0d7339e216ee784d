"""Hook implementations of the dashboard subsystem, registered as an essential core plugin."""
