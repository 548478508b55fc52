"""Config Service: applications and their JSON configurations over HTTP."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

from app.web.transport import START_RESPONSE


class SchemaOrderJSON(DefaultJSONProvider):
    """JSON answers keep the schemas' field order (id first, timestamps last)."""

    sort_keys = False


class ConfigService(Flask):
    """Flask, knowing that every view and hook of the service is synchronous."""

    json_provider_class = SchemaOrderJSON

    def ensure_sync(self, func: Any) -> Any:
        # Flask asks inspect.iscoroutinefunction of each hook and the view on every request
        # (seven times for a read: several % of a cached one); nothing here is async.
        return func

    def wsgi_app(self, environ: dict[str, Any], start_response: Any) -> Any:
        # app.web.transport may have to ask the server to close the connection.
        environ[START_RESPONSE] = start_response
        return super().wsgi_app(environ, start_response)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the service: settings, logging, database, routes, errors, commands."""
    from app import console, db, openapi, worker
    from app.api import register_blueprints
    from app.cli import register_commands
    from app.settings import load_settings
    from app.web import auth, fastpath, metrics, transport
    from app.web.converters import UlidConverter
    from app.web.errors import register_error_handlers
    from app.web.logs import configure_logging

    app = ConfigService(__name__, static_folder=None)
    app.config.update(load_settings(overrides))
    app.url_map.converters["ulid"] = UlidConverter
    # werkzeug would answer `/api//v1/...` with a 308 to an absolute URL built from the Host
    # header; an API client gains nothing from it: such a path is a 404 like any unknown one.
    app.url_map.merge_slashes = False
    configure_logging(app)
    db.init_app(app)
    auth.init_app(app)
    register_blueprints(app)
    openapi.init_app(app)
    console.init_app(app)
    metrics.init_app(app)
    transport.init_app(app)
    worker.init_app(app)
    register_error_handlers(app)
    register_commands(app)
    fastpath.init_app(app)
    return app
