"""Operations: /healthz, /readyz, the request id and the one log line per request."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from app import migrations
from app.worker import current_worker

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/none"
SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
UNKNOWN_APPLICATION = "/api/v1/applications/01ARZ3NDEKTSV4RRFFQ69G5FAV"
PROBLEM = "application/problem+json"


def failing_app(make_app: Callable[..., Flask], **overrides: Any) -> Flask:
    """An app (not in testing mode, so errors are handled) with a route that always raises."""
    application = make_app(TESTING=False, **overrides)

    def boom() -> Any:
        raise RuntimeError("boom")

    application.add_url_rule("/_test/boom", "boom", boom)
    return application


def test_healthz_answers_without_a_database(make_app: Callable[..., Flask]) -> None:
    application = make_app(DATABASE_URL=UNREACHABLE)

    response = application.test_client().get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}
    assert current_worker(application).running()[0] is None  # no pool, no connection attempt


def test_readyz_when_migrated(client: Any) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_names_every_pending_file_of_an_unmigrated_database(
    make_app: Callable[..., Flask], databases: Any
) -> None:
    application = make_app(DATABASE_URL=databases.create())
    expected = application.extensions["migration_files"]
    assert expected

    response = application.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    body = response.get_json()
    assert body["status"] == 503
    assert all(name in body["detail"] for name in expected)
    assert "Retry-After" in response.headers


def test_readyz_names_only_the_pending_file(
    make_app: Callable[..., Flask], databases: Any, tmp_path: Path
) -> None:
    dsn = databases.create()
    (tmp_path / "0001_first.sql").write_text("CREATE TABLE first_table (id integer);\n")
    migrations.migrate(dsn, tmp_path)
    (tmp_path / "0002_second.sql").write_text("CREATE TABLE second_table (id integer);\n")
    application = make_app(DATABASE_URL=dsn, MIGRATIONS_DIR=str(tmp_path))
    client = application.test_client()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert "0002_second.sql" in response.get_json()["detail"]
    assert "0001_first.sql" not in response.get_json()["detail"]
    migrations.migrate(dsn, tmp_path)
    assert client.get("/readyz").status_code == 200


def test_readyz_without_a_database(make_app: Callable[..., Flask]) -> None:
    application = make_app(DATABASE_URL=UNREACHABLE, DB_CONNECT_TIMEOUT=1)

    response = application.test_client().get("/readyz")

    assert response.status_code == 503
    assert response.mimetype == PROBLEM
    assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("sent", ["abc-123_X.y", "a" * 128, "0", "Request.ID-42"])
def test_sane_request_id_is_echoed(make_app: Callable[..., Flask], sent: str) -> None:
    response = make_app().test_client().get("/healthz", headers={"X-Request-ID": sent})
    assert response.headers["X-Request-ID"] == sent


@pytest.mark.parametrize(
    "sent",
    ["a" * 129, "has space", "semi;colon", "slash/", "é", "a\tb", 'quote"d', "", "∂"],
    ids=["129-chars", "space", "semicolon", "slash", "latin1", "tab", "quote", "empty", "unicode"],
)
def test_insane_request_id_is_replaced(make_app: Callable[..., Flask], sent: str) -> None:
    client = make_app().test_client()
    response = client.get("/healthz", headers={"X-Request-ID": sent.encode().decode("latin-1")})
    answered = response.headers["X-Request-ID"]
    assert answered != sent
    assert SANE_ID.fullmatch(answered)


def test_request_id_is_generated_when_absent(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert SANE_ID.fullmatch(first) and SANE_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no/such/route", 404),
        ("GET", "/api/v1/no-such-route", 404),
        ("GET", UNKNOWN_APPLICATION, 404),
        ("POST", "/healthz", 405),
        ("GET", "/_test/boom", 500),
    ],
)
def test_request_id_on_error_answers(
    make_app: Callable[..., Flask], method: str, path: str, status: int
) -> None:
    client = failing_app(make_app).test_client()
    sent = client.open(path, method=method, headers={"X-Request-ID": "err-42"})
    generated = client.open(path, method=method)
    assert (sent.status_code, generated.status_code) == (status, status)
    assert sent.headers["X-Request-ID"] == "err-42"
    assert SANE_ID.fullmatch(generated.headers["X-Request-ID"])


def test_request_id_on_database_unavailable(make_app: Callable[..., Flask]) -> None:
    client = make_app(DATABASE_URL=UNREACHABLE, DB_CONNECT_TIMEOUT=1).test_client()
    response = client.get("/readyz", headers={"X-Request-ID": "db-down"})
    assert response.status_code == 503
    assert response.headers["X-Request-ID"] == "db-down"


def request_lines(stderr: str) -> list[dict[str, Any]]:
    """The per-request log entries among the JSON lines written to stderr."""
    entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]
    return [entry for entry in entries if "duration_ms" in entry]


@pytest.mark.parametrize(
    ("method", "path", "route", "status"),
    [
        ("GET", "/healthz", "/healthz", 200),
        ("GET", "/readyz", "/readyz", 200),
        ("GET", UNKNOWN_APPLICATION, "/api/v1/applications/{application_id}", 404),
        ("POST", "/healthz", None, 405),  # routing failed: no rule matched the method
        ("GET", "/no/such/route", None, 404),
        ("GET", "/_test/boom", "/_test/boom", 500),
    ],
)
def test_one_json_log_line_per_request(
    make_app: Callable[..., Flask],
    capsys: pytest.CaptureFixture[str],
    method: str,
    path: str,
    route: str | None,
    status: int,
) -> None:
    client = failing_app(make_app).test_client()
    capsys.readouterr()

    response = client.open(path, method=method, headers={"X-Request-ID": "log-1"})

    assert response.status_code == status
    stderr = capsys.readouterr().err
    [entry] = request_lines(stderr)  # every stderr line is JSON, and one is this request's
    assert entry["method"] == method
    assert entry["route"] == route
    assert entry["status"] == status
    assert entry["request_id"] == "log-1"
    assert isinstance(entry["duration_ms"], (int, float)) and entry["duration_ms"] >= 0
    assert entry["level"] == "INFO"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", entry["time"])


def test_log_lines_carry_the_generated_request_id(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = failing_app(make_app).test_client()
    capsys.readouterr()
    answers = [client.get("/healthz"), client.get("/_test/boom"), client.get("/healthz")]

    stderr = capsys.readouterr().err
    entries = [json.loads(line) for line in stderr.splitlines()]

    assert [entry["request_id"] for entry in request_lines(stderr)] == [
        answer.headers["X-Request-ID"] for answer in answers
    ]
    # The 500's traceback goes to its own line, tagged with the same request id.
    [error] = [entry for entry in entries if "exception" in entry]
    assert error["level"] == "ERROR"
    assert "RuntimeError: boom" in error["exception"]
    assert error["request_id"] == answers[1].headers["X-Request-ID"]


def test_text_log_format(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(LOG_FORMAT="text").test_client()
    capsys.readouterr()

    response = client.get("/healthz", headers={"X-Request-ID": "text-7"})

    assert response.status_code == 200
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert re.fullmatch(r"\S+ \S+ INFO app \[text-7\] GET /healthz 200", lines[0]), lines[0]
    with pytest.raises(json.JSONDecodeError):
        json.loads(lines[0])


def test_log_level_filters_request_lines(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str]
) -> None:
    client = make_app(LOG_LEVEL="warning").test_client()
    capsys.readouterr()
    assert client.get("/healthz").status_code == 200
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("sent", ["%0a", "%0d%0a", "%1b[31m", "%c2%85", "%e2%80%a8"])
def test_text_log_line_cannot_be_forged_from_the_path(
    make_app: Callable[..., Flask], capsys: pytest.CaptureFixture[str], sent: str
) -> None:
    client = make_app(LOG_FORMAT="text").test_client()
    capsys.readouterr()

    client.get(f"/x{sent}2026-12-06 00:00:00,000 INFO app [forged] GET /healthz 200")

    [line] = capsys.readouterr().err.splitlines()  # one line, whatever the path held
    assert line.isprintable(), repr(line)
    assert "\\x" in line or "\\n" in line or "\\r" in line or "\\u" in line


@pytest.mark.parametrize(
    "path", ["/api//v1/applications", "/api/v1//applications", "/healthz//", "//healthz"]
)
def test_double_slashes_are_not_redirected(app: Flask, path: str) -> None:
    # werkzeug would answer a 308 to http://<Host header>/… ; no Location may name that host.
    response = app.test_client().get(path, headers={"Host": "evil.example"})

    assert response.status_code == 404
    assert "evil.example" not in response.headers.get("Location", "")
