"""Issue 5's security checks: SQL-injection strings are data, and errors leak nothing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import psycopg2
import pytest
from psycopg2 import sql

from app.repositories.applications import ApplicationRepository
from app.web.tokens import create_token

INJECTIONS = [
    "'; DROP TABLE applications; --",
    '" OR 1=1 --',
    "%' OR '1'='1",
    "1; DELETE FROM configurations WHERE ''='",
    "$$; TRUNCATE audit_log; $$",
    "\\'; SELECT pg_sleep(10); --",
    "_%\\",
]
TABLES = ("applications", "configurations", "configuration_versions", "api_tokens", "audit_log")
# What must never reach a client: SQL, driver messages, tracebacks, settings.
LEAKS = ("SELECT", "INSERT", "UPDATE ", "DELETE FROM", "psycopg2", "Traceback", 'File "')


@pytest.fixture
def app_settings(app_settings: dict[str, Any]) -> dict[str, Any]:
    return {**app_settings, "AUTH_ENABLED": True}


@pytest.fixture
def headers(db: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(db, 'boss', 'admin', 'test')}"}


def counts(db: Any) -> dict[str, int]:
    """Row count of every table (a dropped one raises)."""
    with db.cursor() as cur:
        result = {}
        for table in TABLES:
            cur.execute(sql.SQL("SELECT count(*) AS n FROM {}").format(sql.Identifier(table)))
            result[table] = cur.fetchone()["n"]
        return result


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_are_stored_and_returned_verbatim(
    client: Any, db: Any, headers: dict[str, str], text: str
) -> None:
    app = client.post(
        "/api/v1/applications", json={"name": "billing", "comments": text}, headers=headers
    )
    assert app.status_code == 201 and app.get_json()["comments"] == text
    body = {
        "application_id": app.get_json()["id"],
        "name": "db",
        "comments": text,
        "config": {text: text, "k": [text]},
    }
    conf = client.post("/api/v1/configurations", json=body, headers=headers)
    assert conf.status_code == 201
    got = client.get(f"/api/v1/configurations/{conf.get_json()['id']}", headers=headers).get_json()
    assert (got["comments"], got["config"]) == (text, {text: text, "k": [text]})
    patch = {"config": {text: None, "new": text}}
    patched = client.patch(f"/api/v1/configurations/{got['id']}", json=patch, headers=headers)
    assert patched.get_json()["config"] == {"k": [text], "new": text}
    assert (
        client.post("/api/v1/applications", json={"name": text}, headers=headers).status_code == 422
    )
    assert counts(db) == {
        "applications": 1,
        "configurations": 1,
        "configuration_versions": 2,
        "api_tokens": 1,
        "audit_log": 4,  # the token, the application, the configuration, its patch
    }


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_query_parameters_change_no_query(
    client: Any, db: Any, headers: dict[str, str], text: str
) -> None:
    app = client.post("/api/v1/applications", json={"name": "billing"}, headers=headers).get_json()
    before = counts(db)
    value = quote(text, safe="")

    def get(path: str) -> Any:
        return client.get(path, headers=headers)

    assert get(f"/api/v1/applications?name_prefix={value}").get_json()["items"] == []
    assert (
        get(f"/api/v1/applications/{app['id']}/configurations?name_prefix={value}").status_code
        == 200
    )
    for path in ("/api/v1/applications", "/api/v1/audit"):
        assert get(f"{path}?cursor={value}").status_code == 400
    assert get(f"/api/v1/audit?actor={value}").get_json()["items"] == []
    assert get(f"/api/v1/audit?resource_id={value}").get_json()["items"] == []
    assert get(f"/api/v1/audit?action={value}").status_code == 400
    assert get(f"/api/v1/applications/by-name/{value}").status_code == 404
    assert get(f"/api/v1/applications/by-name/billing/configurations/{value}").status_code == 404
    assert len(get("/api/v1/applications?name_prefix=").get_json()["items"]) == 1
    assert counts(db) == before


def assert_no_leak(response: Any, secrets: list[str]) -> None:
    assert response.mimetype == "application/problem+json", response.get_data(True)
    text = response.get_data(as_text=True)
    for leak in [*LEAKS, *secrets]:
        assert leak not in text, f"{leak!r} in {text}"


def test_error_answers_leak_nothing(
    app: Any, client: Any, db: Any, headers: dict[str, str], database_url: str
) -> None:
    app_id = client.post("/api/v1/applications", json={"name": "a"}, headers=headers).get_json()[
        "id"
    ]
    client.post(
        "/api/v1/configurations",
        json={"application_id": app_id, "name": "c", "config": {}},
        headers=headers,
    )
    secrets = [database_url, headers["Authorization"][7:], "postgresql://"]
    cases = [
        client.get("/api/v1/applications"),
        client.get("/api/v1/applications", headers={"Authorization": "Bearer cs_" + "x" * 43}),
        client.post(
            "/api/v1/applications", data="{", content_type="application/json", headers=headers
        ),
        client.post("/api/v1/applications", json={"name": "a"}, headers=headers),  # 409
        client.delete(f"/api/v1/applications/{app_id}", headers=headers),  # 409 (foreign key)
        client.post(
            "/api/v1/configurations",
            json={"application_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "name": "c", "config": {}},
            headers=headers,
        ),
        client.get("/api/v1/nowhere", headers=headers),
        client.put("/api/v1/applications", headers=headers),
        client.post("/api/v1/applications", data="x", content_type="text/plain", headers=headers),
        client.get("/api/v1/audit?limit=-1", headers=headers),
    ]
    for response in cases:
        assert_no_leak(response, secrets)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError(f"boom: SELECT * FROM applications; password in {TABLES}"),
        psycopg2.ProgrammingError('syntax error at or near "DROP" LINE 1: SELECT'),
        psycopg2.errors.DataError('invalid input syntax for type integer: "\'; DROP"'),
    ],
)
def test_unexpected_errors_are_a_plain_500(
    app: Any, client: Any, headers: dict[str, str], database_url: str, monkeypatch, error
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise error

    monkeypatch.setattr(ApplicationRepository, "page", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as production does
    response = client.get("/api/v1/applications", headers=headers)
    assert response.status_code == 500
    assert_no_leak(response, [database_url, "DROP", "boom", "syntax"])
