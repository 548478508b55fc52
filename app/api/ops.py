"""Operations endpoints: liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, current_app

from app import migrations
from app.db import get_conn
from app.errors import problem

blueprint = Blueprint("ops", __name__)

# The latest applied migration's name, or none; one round trip.
SELECT_APPLIED = "SELECT array_agg(filename) AS files FROM schema_migrations"


@blueprint.get("/healthz")
def healthz():
    """Answer while the process serves; touch no database."""
    return {"status": "ok"}


@blueprint.get("/readyz")
def readyz():
    """Answer 200 when the database answers and every migration is applied."""
    expected = current_app.extensions["migration_files"]
    with get_conn().cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")
        applied = set()
        if cur.fetchone()["present"]:
            cur.execute(SELECT_APPLIED)
            applied = set(cur.fetchone()["files"] or ())
    missing = [name for name in expected if name not in applied]
    if missing:
        detail = f"Migrations not applied: {', '.join(missing)}; run `flask migrate`."
        return problem(503, detail, headers={"Retry-After": "5"})
    return {"status": "ok"}


def migration_files(directory: str) -> list[str]:
    """Return the migration file names the code expects to be applied."""
    return [m.filename for m in migrations.discover(directory)]
