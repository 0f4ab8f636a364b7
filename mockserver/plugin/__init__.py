"""The pytest integration: the sandbox harness and the plugin's fixtures."""
