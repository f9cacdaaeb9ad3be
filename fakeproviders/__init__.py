"""Fake provider send endpoints on loopback, one per provider the service can name, with faults switchable at run time.

FAKES is the registry: each fake API class has a `name` (the service's provider name), `OPTIONS` (its
command-line options and their defaults), `from_options`, `send_path`, and `service_env` (the SMSP_*
variables that point the service at it). A fake with `ACCOUNT_ERRORS` can be switched to answer one of them
(fault mode `account`). A fake of another protocol than HTTP (SMTP) also has `endpoint(store, host, port)`, an
object like `server.ProviderEndpoint` that serves it.
"""
from .mailgun import MailgunApi
from .postmark import PostmarkApi
from .sendgrid import SendGridApi
from .ses import SesApi
from .smtp import SmtpApi

DEFAULT_HOST = "127.0.0.1"
FAKES = {api.name: api for api in (MailgunApi, SendGridApi, SesApi, PostmarkApi, SmtpApi)}
