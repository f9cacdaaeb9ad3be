"""The release of sendmailproxy: a module of its own, so that any module may read it without importing the app."""

__version__ = "1.0.0"
