"""sendmailproxy: a JSON-over-HTTP email API that fails over between mail providers."""
from __future__ import annotations

from typing import Sequence

from flask import Flask

from sendmailproxy.config import Config, load_or_exit
from sendmailproxy.logconfig import configure_logging
from sendmailproxy.providers.base import Provider
from sendmailproxy.service import Service
from sendmailproxy.version import __version__ as __version__  # re-exported: the package's release


def create_app(config: Config | None = None, providers: Sequence[Provider] | None = None) -> Flask:
    """Wire the service: config from the environment unless given, providers from config unless given."""
    # Imported here so importing the package stays cheap for gunicorn.conf.py.
    from sendmailproxy import admin, api, docs, feed, webhooks

    config = config or load_or_exit()
    configure_logging(config.log_format, config.log_debug)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.extensions["sendmailproxy"] = Service.build(config, providers)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(feed.blueprint)
    app.register_blueprint(docs.build_blueprint())
    app.register_blueprint(admin.blueprint)
    return app
