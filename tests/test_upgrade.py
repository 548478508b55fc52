"""Upgrading a database the previous release filled: migrations 0001-0005 and the rows its
code wrote, then this release's migrations, then everything read back through the API."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from app import create_app, migrations
from app.worker import current_worker
from tests.helpers import MIGRATIONS_DIR

APP, CONF, TOKEN_AUDIT = (
    "01JD0000000000000000000001",
    "01JD0000000000000000000002",
    "01JD0000000000000000000003",
)
# What the previous release wrote, as its repositories wrote it (triggers made the versions).
PREVIOUS_RELEASE = f"""
INSERT INTO applications (id, name, comments) VALUES ('{APP}', 'billing', 'old');
INSERT INTO configurations (id, application_id, name, comments, config, schema)
VALUES ('{CONF}', '{APP}', 'database', NULL, '{{"host": "db1", "pool": {{"max": 20}}}}',
        '{{"type": "object", "required": ["host"]}}');
UPDATE configurations SET config = '{{"host": "db2", "pool": {{"max": 20}}}}',
    version = version + 1, updated_at = now() WHERE id = '{CONF}';
INSERT INTO audit_log (id, actor, action, resource_type, resource_id, version, request_id)
VALUES ('{TOKEN_AUDIT}', 'ci', 'update', 'configuration', '{CONF}', 2, 'r-1');
"""


@pytest.fixture
def upgraded(databases: Any, tmp_path: Path) -> Iterator[Any]:
    """An app on a database migrated to 0005, filled, then migrated to now."""
    dsn = databases.create()
    previous = tmp_path / "previous"
    previous.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("000[1-5]_*.sql")):
        shutil.copy(path, previous / path.name)
    assert len(migrations.migrate(dsn, previous)) == 5
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        cur.execute(PREVIOUS_RELEASE)
    conn.close()
    assert "0008_environments.sql" in migrations.migrate(dsn, MIGRATIONS_DIR)
    app = create_app({"DATABASE_URL": dsn, "TESTING": True, "AUTH_ENABLED": False})
    yield app.test_client()
    current_worker(app).shutdown()


def test_everything_reads_back_and_environments_work(upgraded: Any) -> None:
    client = upgraded
    application = client.get(f"/api/v1/applications/{APP}").get_json()
    assert application["name"] == "billing" and application["configuration_ids"] == [CONF]
    configuration = client.get(f"/api/v1/configurations/{CONF}")
    assert configuration.headers["ETag"] == '"2"'
    assert configuration.get_json()["config"] == {"host": "db2", "pool": {"max": 20}}
    versions = client.get(f"/api/v1/configurations/{CONF}/versions").get_json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    [entry] = client.get("/api/v1/audit").get_json()["items"]
    assert entry["id"] == TOKEN_AUDIT and entry["environment"] is None
    assert client.get(f"/api/v1/configurations/{CONF}/environments").get_json()["items"] == []
    # the old data takes part in the new features
    assert client.post("/api/v1/environments", json={"name": "staging"}).status_code == 201
    overlay = f"/api/v1/configurations/{CONF}/environments/staging"
    assert client.put(overlay, json={"patch": {"host": None}}).status_code == 422  # its schema
    assert client.put(overlay, json={"patch": {"pool": {"max": 5}}}).status_code == 201
    resolved = client.get(f"/api/v1/configurations/{CONF}?environment=staging")
    assert resolved.headers["ETag"] == '"2.1"'
    assert resolved.get_json()["config"] == {"host": "db2", "pool": {"max": 5}}
