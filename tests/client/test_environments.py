"""The client and environments: resolved reads, kept copies per environment, watching one."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from config_service_client import Client, NotFound

from tests.client.conftest import Api, Service, make_token, read_json, wait_until
from tests.servers import free_port


@pytest.fixture
def overlays(service: Service) -> tuple[dict, Api]:
    """Configuration billing/database {"host": "db1", "pool": 5} with a `production` overlay
    setting the host; an admin API to change overlays."""
    made = service.api.seed(config={"host": "db1", "pool": 5})
    admin = Api(service.server.port, make_token(service.database_url, "admin")[1])
    status, body = admin.call("POST", "/api/v1/environments", {"name": "production"})
    assert status == 201, body
    path = f"/api/v1/configurations/{made['id']}/environments/production"
    status, body = admin.call("PUT", path, {"patch": {"host": "db-prod"}})
    assert status == 201, body
    return made, admin


def test_get_reads_the_resolved_document_and_keeps_a_copy_per_environment(
    service: Service, overlays: tuple[dict, Api], tmp_path: Path
) -> None:
    client = Client(service.url, service.reader, cache_dir=tmp_path)

    resolved = client.get("billing", "database", environment="production")
    base = client.get("billing", "database")

    assert resolved.config == {"host": "db-prod", "pool": 5} and resolved.etag == '"1.1"'
    assert base.config == {"host": "db1", "pool": 5} and base.etag == '"1"'
    assert client.get_by_id(overlays[0]["id"], environment="production").config == resolved.config
    with pytest.raises(NotFound):
        client.get("billing", "database", environment="staging")
    kept = Client(f"http://127.0.0.1:{free_port()}", service.reader, cache_dir=tmp_path)
    assert kept.get("billing", "database", environment="production").config == resolved.config
    assert kept.get("billing", "database").config == base.config
    client.close()


def test_watch_follows_the_overlay_and_the_base(
    service: Service, overlays: tuple[dict, Api], tmp_path: Path, watch
) -> None:
    made, admin = overlays
    out = tmp_path / "production.json"
    process = watch("billing", "database", "--environment", "production", "--output", str(out),
                    *service.args())  # fmt: skip
    wait_until(lambda: read_json(out) == {"host": "db-prod", "pool": 5}, 15, "the first write")
    time.sleep(0.3)  # its long poll has started

    path = f"/api/v1/configurations/{made['id']}/environments/production"
    status, body = admin.call("PUT", path, {"patch": {"host": "db-prod-2"}})
    assert status == 200, body
    wait_until(lambda: read_json(out) == {"host": "db-prod-2", "pool": 5}, 5, "the overlay")
    service.api.patch(made["id"], config={"pool": 9})
    wait_until(lambda: read_json(out) == {"host": "db-prod-2", "pool": 9}, 5, "the base")
    process.stop()
