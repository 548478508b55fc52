"""Keep-alive after an answer sent before the body was read; nosniff on every answer."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from typing import Any

import psycopg2
import pytest

from app.web.tokens import create_token
from tests.servers import Gunicorn, running_gunicorn

BOTH_PATHS = True  # run with FAST_PATH on and off: every answer must be alike
LIMIT = 1024  # MAX_CONTENT_LENGTH of the server under test
BIG = b'{"name": "' + b"x" * 100_000 + b'"}'  # past gunicorn's 64 KiB drain of an unread body
APPS = "/api/v1/applications"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    log = tmp_path_factory.mktemp("transport") / "gunicorn.log"
    env = {"AUTH_ENABLED": "true", "MAX_CONTENT_LENGTH": str(LIMIT)}
    with running_gunicorn(database_url, log, workers=1, env=env) as running:
        yield running


@pytest.fixture
def token(database_url: str) -> str:
    with psycopg2.connect(database_url) as conn:
        secret = create_token(conn, "writer", "writer", "test")
    conn.close()
    return secret


def _chunks(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), 8192):
        yield data[start : start + 8192]


def _send(conn: http.client.HTTPConnection, method: str, path: str, body: Any, **headers: str):
    chunked = not isinstance(body, (bytes, type(None)))
    try:
        conn.request(method, path, body=body, headers=headers, encode_chunked=chunked)
    except (BrokenPipeError, ConnectionResetError):
        # The server answered and closed before the whole body was sent, as HTTP allows
        # for an early answer: read what it answered, then start a new connection.
        response = http.client.HTTPResponse(conn.sock, method=method)
        response.begin()
        data = response.read()
        conn.close()
        return response, data
    response = conn.getresponse()
    return response, response.read()


def _then_healthz(conn: http.client.HTTPConnection, first: http.client.HTTPResponse) -> None:
    """The next request on the connection succeeds: the server kept it, or said it would not."""
    socket_before = conn.sock
    response, _ = _send(conn, "GET", "/healthz", None)
    assert response.status == 200
    if first.getheader("Connection", "").lower() != "close":
        assert conn.sock is socket_before  # the connection really was kept


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_413_closes_the_connection_and_says_so(server: Gunicorn, token: str, chunked) -> None:
    conn = server.connection()
    try:
        body = _chunks(BIG) if chunked else BIG
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        first, _ = _send(conn, "POST", APPS, body, **auth)
        assert first.status == 413
        assert first.getheader("Connection") == "close"
        _then_healthz(conn, first)
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("POST", APPS, {"Content-Type": "application/json"}, 401),  # no token: body unread
        ("POST", "/nowhere", {"Content-Type": "application/json"}, 404),
        ("POST", "/healthz", {"Content-Type": "application/json"}, 405),
        ("POST", APPS, {"Content-Type": "text/plain", "token": ""}, 415),
    ],
)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_early_answers_close_the_connection(server, token, method, path, headers, status, chunked):
    headers = dict(headers)
    if headers.pop("token", None) is not None:
        headers["Authorization"] = f"Bearer {token}"
    conn = server.connection()
    try:
        first, _ = _send(conn, method, path, _chunks(BIG) if chunked else BIG, **headers)
        assert first.status == status
        assert first.getheader("Connection") == "close"
        _then_healthz(conn, first)
    finally:
        conn.close()


def test_a_body_read_to_its_end_keeps_the_connection(server: Gunicorn, token: str) -> None:
    conn = server.connection()
    try:
        auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        first, _ = _send(conn, "POST", APPS, b"[1, 2]", **auth)
        assert first.status == 422
        assert first.getheader("Connection") == "keep-alive"
        _then_healthz(conn, first)
    finally:
        conn.close()


def test_an_unread_body_in_the_test_client_says_close(client: Any) -> None:
    response = client.post("/nowhere", data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.headers["Connection"] == "close"
    assert client.get("/healthz").headers.get("Connection") is None


@pytest.mark.parametrize("path", ["/healthz", "/nowhere", "/api/v1/docs", APPS])
def test_every_answer_says_nosniff(client: Any, path: str) -> None:
    assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"
