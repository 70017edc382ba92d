"""aimlchat: a terminal client for the AI/ML API."""

__version__ = "0.3.0"
