"""The package version, in one place below every module that records it (saved results, the CLI)."""

__version__ = "0.1.0"
