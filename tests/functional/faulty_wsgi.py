"""The production app plus one test-only switch: a request carrying X-Functional-Raise raises inside the app.

A healthy service has no way to answer the documented 500; this lets the contract tests check that an
unexpected exception still becomes the documented JSON 500, through real gunicorn and the real handlers.
"""
from flask import request

from testkit.harness import RAISE_HEADER
from wsgi import app


@app.before_request
def raise_when_asked() -> None:
    # Registered after the blueprint's own hooks, so the request id is already set as in production.
    if request.headers.get(RAISE_HEADER):
        raise RuntimeError("raised on purpose by the functional tests")
