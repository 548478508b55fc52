"""Version 1 of the HTTP API, under /api/v1."""

from __future__ import annotations

from flask import Flask

PREFIX = "/api/v1"


def register_blueprints(app: Flask) -> None:
    """Register every /api/v1 blueprint (the one place that lists them)."""
    from app.api.v1 import applications, audit, configurations, versions

    app.register_blueprint(applications.blueprint, url_prefix=PREFIX)
    app.register_blueprint(configurations.blueprint, url_prefix=PREFIX)
    app.register_blueprint(versions.blueprint, url_prefix=PREFIX)
    app.register_blueprint(audit.blueprint, url_prefix=PREFIX)
