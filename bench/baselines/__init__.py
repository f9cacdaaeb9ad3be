"""The WSGI apps the service is measured against, run under the same gunicorn settings."""
