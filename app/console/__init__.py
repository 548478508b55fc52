"""The web console: server-rendered pages under /console/ over the API's own services."""

from __future__ import annotations

from flask import Blueprint, Flask

PREFIX = "/console"
blueprint = Blueprint(
    "console",
    __name__,
    url_prefix=PREFIX,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def init_app(app: Flask) -> None:
    """Register the console's pages, its checks on every request and its HTML errors."""
    from app.console import browse, edit, history, pages, signin, visitors, watching  # noqa: F401
    from app.web.errors import register_error_page

    app.register_blueprint(blueprint)
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True  # no blank lines in pages
    app.after_request(pages.secure_headers)
    register_error_page(app, f"{PREFIX}/", pages.error_page)
