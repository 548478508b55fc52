"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, current_app
from flask.blueprints import BlueprintSetupState

from app import migrations
from app.db import get_conn
from app.web.errors import problem

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    """Answer while the process serves; touch no database."""
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz():
    """Answer 200 when the database answers and every migration is applied."""
    expected = current_app.extensions["migration_files"]
    applied = migrations.applied(get_conn())
    missing = [name for name in expected if name not in applied]
    if missing:
        detail = f"Migrations not applied: {', '.join(missing)}; run `flask migrate`."
        return problem(503, detail, headers={"Retry-After": "5"})
    return {"status": "ok"}


@blueprint.record_once
def _expect_migrations(state: BlueprintSetupState) -> None:
    """Note the migration files this code expects to find applied (read once, at start)."""
    directory = state.app.config["MIGRATIONS_DIR"]
    state.app.extensions["migration_files"] = [m.filename for m in migrations.discover(directory)]
