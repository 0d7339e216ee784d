"""Hook implementations of the conversation subsystem, registered as an essential core plugin."""
