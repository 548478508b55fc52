"""One audit entry per write, in its transaction, and GET /api/v1/audit."""

from __future__ import annotations

from typing import Any

import pytest

from app.repositories.audit import AuditRepository
from app.web.tokens import create_token, revoke_token
from tests.helpers import TIMESTAMP_RE, ULID_RE

AUDIT = "/api/v1/audit"
FIELDS = [
    "id", "at", "actor", "action", "resource_type", "resource_id", "version", "request_id",
    "environment",
]  # fmt: skip


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


class Api:
    """A client that sends the `ci` writer token (and reads the log with `boss`, an admin)."""

    def __init__(self, client: Any, db: Any):
        self.client = client
        self.writer = {"Authorization": f"Bearer {create_token(db, 'ci', 'writer', 'test')}"}
        self.admin = {"Authorization": f"Bearer {create_token(db, 'boss', 'admin', 'test')}"}
        with db.cursor() as cur:
            cur.execute("TRUNCATE audit_log")  # forget the two token entries

    def write(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        return self.client.open(path, method=method, json=body, headers={**self.writer, **headers})

    def created(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.write("POST", path, body)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def entries(self, query: str = "") -> list[dict[str, Any]]:
        response = self.client.get(f"{AUDIT}{query}", headers=self.admin)
        assert response.status_code == 200, response.get_json()
        return response.get_json()["items"]


@pytest.fixture
def api(client: Any, db: Any) -> Api:
    return Api(client, db)


def summary(entries: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(action, resource type, resource id, version) of each entry, newest first."""
    return [(e["action"], e["resource_type"], e["resource_id"], e["version"]) for e in entries]


def test_an_entry_has_every_field(api: Api) -> None:
    response = api.write(
        "POST", "/api/v1/applications", {"name": "billing"}, **{"X-Request-ID": "r-1"}
    )
    [entry] = api.entries()
    assert list(entry) == FIELDS
    assert ULID_RE.fullmatch(entry["id"]) and TIMESTAMP_RE.fullmatch(entry["at"])
    assert entry["actor"] == "ci" and entry["request_id"] == "r-1"
    assert entry["environment"] is None  # not an environment or overlay write
    assert summary([entry]) == [("create", "application", response.get_json()["id"], None)]


def test_a_put_in_one_statement_records_its_entry_too(api: Api, db: Any) -> None:
    app = api.created("/api/v1/applications", {"name": "billing"})
    conf = api.created(
        "/api/v1/configurations", {"application_id": app["id"], "name": "db", "config": {}}
    )
    path = f"/api/v1/configurations/{conf['id']}"
    headers = {"If-Match": '"1"', "X-Request-ID": "put-1"}
    assert api.write("PUT", path, {"name": "db", "config": {"a": 1}}, **headers).status_code == 200
    entry = api.entries(f"?resource_id={conf['id']}&action=update")[0]
    assert (entry["actor"], entry["request_id"], entry["version"]) == ("ci", "put-1", 2)
    with db.cursor() as cur:  # the entry and the version it names were written together
        cur.execute("SELECT count(*) AS n FROM configuration_versions WHERE version = 2")
        assert cur.fetchone()["n"] == 1


def test_application_writes(api: Api) -> None:
    app = api.created("/api/v1/applications", {"name": "billing"})
    path = f"/api/v1/applications/{app['id']}"
    assert api.write("PUT", path, {"name": "billing", "comments": "x"}).status_code == 200
    assert api.write("PUT", path, {"name": "billing", "comments": "x"}).status_code == 200  # no-op
    assert api.write("PATCH", path, {"comments": "y"}).status_code == 200
    assert api.write("PATCH", path, {"comments": "y"}).status_code == 200  # no-op
    assert api.write("PATCH", path, {}).status_code == 200  # no-op
    assert api.write("DELETE", path).status_code == 204
    assert summary(api.entries()) == [
        ("delete", "application", app["id"], None),
        ("update", "application", app["id"], None),
        ("update", "application", app["id"], None),
        ("create", "application", app["id"], None),
    ]


def test_configuration_writes_carry_the_resulting_version(api: Api) -> None:
    app = api.created("/api/v1/applications", {"name": "billing"})
    conf = api.created(
        "/api/v1/configurations", {"application_id": app["id"], "name": "db", "config": {"a": 1}}
    )
    path = f"/api/v1/configurations/{conf['id']}"
    api.write("PUT", path, {"name": "db", "config": {"a": 2}})
    api.write("PUT", path, {"name": "db", "config": {"a": 2}})  # no-op
    api.write("PATCH", path, {"config": {"b": 3}})
    api.write("PATCH", path, {"config": {"b": 3}})  # no-op
    assert api.write("POST", f"{path}/versions/1/restore").get_json()["version"] == 4
    assert api.write("POST", f"{path}/versions/1/restore").get_json()["version"] == 4  # no-op
    assert api.write("DELETE", path).status_code == 204
    cid = conf["id"]
    assert summary(api.entries(f"?resource_id={cid}")) == [
        ("delete", "configuration", cid, 4),
        ("restore", "configuration", cid, 4),
        ("update", "configuration", cid, 3),
        ("update", "configuration", cid, 2),
        ("create", "configuration", cid, 1),
    ]


def test_cascade_delete_records_the_application_and_each_configuration(api: Api) -> None:
    app = api.created("/api/v1/applications", {"name": "billing"})
    body = {"application_id": app["id"], "config": {}}
    one = api.created("/api/v1/configurations", {**body, "name": "one"})
    two = api.created("/api/v1/configurations", {**body, "name": "two"})
    api.write("PATCH", f"/api/v1/configurations/{two['id']}", {"comments": "v2"})
    assert api.write("DELETE", f"/api/v1/applications/{app['id']}?cascade=true").status_code == 204
    assert summary(api.entries("?action=delete")) == [
        ("delete", "configuration", two["id"], 2),
        ("delete", "configuration", one["id"], 1),
        ("delete", "application", app["id"], None),
    ]


def test_failed_writes_record_nothing(api: Api) -> None:
    app = api.created("/api/v1/applications", {"name": "billing"})
    conf = api.created(
        "/api/v1/configurations", {"application_id": app["id"], "name": "db", "config": {}}
    )
    before = api.entries()
    path = f"/api/v1/configurations/{conf['id']}"
    assert api.write("POST", "/api/v1/applications", {"name": "billing"}).status_code == 409
    assert api.write("DELETE", f"/api/v1/applications/{app['id']}").status_code == 409
    assert (
        api.write(
            "PUT", path, {"name": "db", "config": {"a": 1}}, **{"If-Match": '"9"'}
        ).status_code
        == 412
    )
    assert api.write("PATCH", path, {"name": "not valid!"}).status_code == 422
    body = {"application_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "name": "x", "config": {}}
    assert api.write("POST", "/api/v1/configurations", body).status_code == 422
    assert api.write("POST", f"{path}/versions/7/restore").status_code == 404
    assert api.entries() == before


def test_entry_and_write_share_one_transaction(api: Api, db: Any, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(AuditRepository, "record", broken)
    with pytest.raises(RuntimeError):  # TESTING propagates what would be a 500
        api.write("POST", "/api/v1/applications", {"name": "billing"})
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM applications")
        assert cur.fetchone()["n"] == 0  # the write went with the entry


def test_token_commands_are_recorded(api: Api, db: Any) -> None:
    create_token(db, "deploy", "reader", "cli:alice")
    revoke_token(db, "deploy", "cli:alice")
    entries = api.entries("?resource_id=deploy")
    assert summary(entries) == [
        ("revoke", "token", "deploy", None),
        ("create", "token", "deploy", None),
    ]
    assert {(e["actor"], e["request_id"]) for e in entries} == {("cli:alice", None)}


def test_actor_is_anonymous_with_auth_off(app_settings: dict[str, Any], db: Any) -> None:
    from app import create_app

    client = create_app({**app_settings, "AUTH_ENABLED": False}).test_client()
    assert client.post("/api/v1/applications", json={"name": "billing"}).status_code == 201
    [entry] = client.get(AUDIT).get_json()["items"]
    assert entry["actor"] == "anonymous" and entry["action"] == "create"


def test_filters_combine(api: Api, db: Any) -> None:
    app = api.created("/api/v1/applications", {"name": "billing"})
    other = api.created("/api/v1/applications", {"name": "other"})
    api.write("PATCH", f"/api/v1/applications/{app['id']}", {"comments": "x"})
    create_token(db, "deploy", "reader", "cli:alice")
    assert len(api.entries()) == 4
    assert summary(api.entries(f"?resource_id={app['id']}")) == [
        ("update", "application", app["id"], None),
        ("create", "application", app["id"], None),
    ]
    assert [e["resource_id"] for e in api.entries("?actor=ci")] == [
        app["id"],
        other["id"],
        app["id"],
    ]
    assert summary(api.entries("?actor=cli:alice")) == [("create", "token", "deploy", None)]
    assert summary(api.entries(f"?action=update&actor=ci&resource_id={app['id']}")) == [
        ("update", "application", app["id"], None)
    ]
    assert api.entries("?action=restore") == []
    assert api.entries("?actor=nobody&unknown=1") == []


def test_pages_walk_newest_first_without_gaps(api: Api) -> None:
    ids = [api.created("/api/v1/applications", {"name": f"app{i}"})["id"] for i in range(7)]
    seen, cursor = [], None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        body = api.client.get(f"{AUDIT}{query}", headers=api.admin).get_json()
        assert len(body["items"]) <= 3
        seen += [entry["resource_id"] for entry in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?action=drop", "action"),
        ("?action=CREATE", "action"),
        ("?limit=0", "limit"),
        ("?limit=501", "limit"),
        ("?limit=x", "limit"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?actor=", "actor"),
        ("?resource_id=" + "x" * 129, "resource_id"),
        ("?actor=a%00b", "actor"),
    ],
)
def test_bad_query_parameters_are_400(api: Api, query: str, field: str) -> None:
    response = api.client.get(f"{AUDIT}{query}", headers=api.admin)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert field in response.get_json()["errors"]
