"""The package version, kept apart so `agentkit --version` need not import the library."""

__version__ = "0.1.0"
