"""GET /docs: Swagger UI for /swagger.json, its assets served from the flask-swagger-ui package (no CDN)."""
from flask_swagger_ui import get_swaggerui_blueprint

blueprint = get_swaggerui_blueprint(
    "/docs",
    "/swagger.json",
    config={
        "app_name": "sendmailproxy API",
        # The default validator badge loads an image from validator.swagger.io, telling it our spec's URL.
        "validatorUrl": None,
        "layout": "BaseLayout",  # no top bar inviting visitors to load some other spec
    },
    blueprint_name="docs",
)
# Serve /docs itself rather than werkzeug's redirect to /docs/, whose absolute Location says http:// behind
# a TLS-terminating proxy.
blueprint.add_url_rule("", endpoint="show")
