"""The service with its SMTP connections never reused (idle TTL 0): a new TCP connection, STARTTLS and AUTH per
message, to measure what reuse buys."""
from sendmailproxy.providers import smtp

smtp.IDLE_TTL_S = 0

from wsgi import app  # noqa: E402 - after the change, so every worker forks with it

__all__ = ["app"]
