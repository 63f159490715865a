"""oxbot's Textual cockpit and the command-line entry point."""

__version__ = "0.1.0"
