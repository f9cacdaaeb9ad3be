"""Fake Mailgun and SendGrid send endpoints on loopback, with faults switchable at run time."""

DEFAULT_HOST = "127.0.0.1"
DEFAULT_MAILGUN_DOMAIN = "mg.example.com"
DEFAULT_MAILGUN_KEY = "mg-test-key"
DEFAULT_SENDGRID_KEY = "sg-test-key"
