"""Config Service: applications and their JSON configurations over HTTP."""

from __future__ import annotations

from typing import Any

from flask import Flask
from werkzeug.routing import BaseConverter


class UlidConverter(BaseConverter):
    """Match a ULID path segment in either case; anything else is a 404."""

    # Refuse non-ULIDs in the regex itself: a converter that raises after matching
    # would let werkzeug answer 405 (from the GET rule's methods) instead of 404.
    regex = "[0-7][0-9A-HJKMNP-TV-Za-hjkmnp-tv-z]{25}"

    def to_python(self, value: str) -> str:
        return value.upper()


class ConfigService(Flask):
    """Flask, knowing that every view and hook of the service is synchronous."""

    def ensure_sync(self, func: Any) -> Any:
        # Flask asks inspect.iscoroutinefunction of each hook and the view on every request
        # (seven times for a read: several % of a cached one); nothing here is async.
        return func


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the service: settings, logging, database, routes, errors, commands."""
    from app import auth, db, metrics, openapi
    from app.api import ops
    from app.api.v1 import register_blueprints
    from app.cli import register_commands
    from app.errors import register_error_handlers
    from app.logs import configure_logging
    from app.settings import load_settings

    app = ConfigService(__name__, static_folder=None)
    app.config.update(load_settings(overrides))
    app.json.sort_keys = False  # keep the schemas' field order
    app.url_map.converters["ulid"] = UlidConverter
    app.extensions["migration_files"] = ops.migration_files(app.config["MIGRATIONS_DIR"])
    configure_logging(app)
    db.init_app(app)
    auth.init_app(app)
    app.register_blueprint(ops.blueprint)
    register_blueprints(app)
    openapi.init_app(app)
    metrics.init_app(app)
    register_error_handlers(app)
    register_commands(app)
    return app
