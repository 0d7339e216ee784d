"""Hook implementations of the notify subsystem, registered as an essential core plugin."""
