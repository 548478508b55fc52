"""The human-readable API docs: Swagger UI served by the service itself, no outside assets.

The Swagger UI files come from the `flask-swagger-ui` wheel (its `dist/` folder, Swagger UI
5.x); only its files are used, not its blueprint, so the page lives at exactly /api/v1/docs and
carries a Content-Security-Policy that lets the browser load nothing from elsewhere.
"""

from __future__ import annotations

from importlib.resources import files

from flask import Blueprint, Response, send_from_directory

from app.openapi.builders import OPEN, ok, operation
from app.web import API_PREFIX as PREFIX

blueprint = Blueprint("docs", __name__)
ASSETS = "/static/swagger-ui"  # outside /api/v1: open like the page, whatever auth does
ASSETS_DIR = str(files("flask_swagger_ui") / "dist")
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline';"
    " img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Config Service API</title>
  <link rel="stylesheet" href="{ASSETS}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS}/swagger-ui-bundle.js"></script>
  <script src="{ASSETS}/config-service.js"></script>
</body>
</html>
"""
# validatorUrl null: Swagger UI would otherwise send the document to validator.swagger.io.
# persistAuthorization: the bearer token entered under "Authorize" survives a page reload.
INITIALIZER = f"""window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{PREFIX}/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    persistAuthorization: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout"
  }});
}};
"""


@blueprint.get(f"{PREFIX}/docs")
@operation(
    OPEN,
    {"200": ok({"type": "string"}, "Swagger UI (no outside assets).", media_type="text/html")},
    (),
)
def docs_page():
    """Answer the API docs page (Swagger UI)."""
    return Response(PAGE, mimetype="text/html", headers={"Content-Security-Policy": CSP})


@blueprint.get(f"{ASSETS}/<path:filename>")
def docs_asset(filename: str):
    """Answer one Swagger UI file (404 for anything else)."""
    if filename == "config-service.js":
        response = Response(INITIALIZER, mimetype="text/javascript")
    else:
        response = send_from_directory(ASSETS_DIR, filename, max_age=86400)
    response.headers["Content-Security-Policy"] = CSP  # nosniff: app.web.transport
    return response
