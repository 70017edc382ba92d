"""aimlchat: a terminal client for the AI/ML API."""

__version__ = "0.2.1"
