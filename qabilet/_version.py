"""The version of qabilet, read by packaging and by every record the software issues."""

__version__ = "0.1.0"
