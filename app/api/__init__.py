"""The HTTP API, version 1, under /api/v1: one blueprint per resource, plus the operations."""

from __future__ import annotations

from flask import Flask

from app.web import API_PREFIX as PREFIX


def register_blueprints(app: Flask) -> None:
    """Register every blueprint of the API and the operations endpoints (the one list)."""
    from app.api import (
        applications,
        audit,
        configurations,
        environments,
        ops,
        overlay_versions,
        overlays,
        versions,
        watch,
    )

    app.register_blueprint(ops.blueprint)
    modules = (
        applications, configurations, versions, environments, overlays, overlay_versions, watch,
        audit,
    )  # fmt: skip
    for module in modules:
        app.register_blueprint(module.blueprint, url_prefix=PREFIX)
