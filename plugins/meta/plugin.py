"""Hook implementations of this plugin (filled in as the plugin is built)."""
