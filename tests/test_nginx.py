"""deploy/nginx.conf, run by Debian's nginx in front of a real gunicorn."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.nginx import Nginx, require_nginx, running_nginx
from tests.servers import Gunicorn, running_gunicorn
from tests.slowloris import healthz_ms, slowloris, worst_healthz_ms

pytestmark = pytest.mark.slow
# gunicorn's own access line, naming what the proxy sent: proof the headers reached it.
ACCESS = "--access-logfile - --access-logformat 'forwarded for=%({x-forwarded-for}i)s proto=%({x-forwarded-proto}i)s %(r)s'"  # noqa: E501


@pytest.fixture(scope="module")
def gunicorn(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gunicorn]:
    """One worker of 16 threads: 40 slow clients straight at it would take them all."""
    require_nginx()
    log = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    env = {"AUTH_ENABLED": "false", "GUNICORN_CMD_ARGS": ACCESS}
    with running_gunicorn(database_url, log, workers=1, threads=16, env=env) as server:
        yield server


@pytest.fixture(scope="module")
def nginx(gunicorn: Gunicorn, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    with running_nginx(gunicorn.port, tmp_path_factory.mktemp("nginx")) as server:
        yield server


def call(
    nginx: Nginx, method: str, path: str, body: Any = None, timeout: float = 10.0, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    """Send one request through nginx; return status, headers and body."""
    conn = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


@pytest.fixture
def configuration(nginx: Nginx) -> dict[str, Any]:
    """A configuration at version 1, made through nginx (tables are emptied after each test)."""
    status, _, body = call(
        nginx, "POST", "/api/v1/applications", {"name": f"nginx-{time.time_ns()}"}
    )
    assert status == 201, body
    application = json.loads(body)
    new = {"application_id": application["id"], "name": "database", "config": {"a": 1}}
    status, _, body = call(nginx, "POST", "/api/v1/configurations", new)
    assert status == 201, body
    return json.loads(body)


def test_a_get_goes_through(nginx: Nginx, configuration: dict[str, Any]) -> None:
    status, headers, body = call(nginx, "GET", f"/api/v1/configurations/{configuration['id']}")

    assert status == 200
    assert headers["ETag"] == '"1"'
    assert json.loads(body)["config"] == {"a": 1}


def test_a_long_poll_waits_through_nginx(nginx: Nginx, configuration: dict[str, Any]) -> None:
    path = f"/api/v1/configurations/{configuration['id']}"
    started = time.monotonic()

    status, headers, _ = call(
        nginx, "GET", path, timeout=20, **{"If-None-Match": '"1"', "Prefer": "wait=6"}
    )

    assert status == 304
    assert headers["Preference-Applied"] == "wait=6"
    assert time.monotonic() - started > 5


def test_a_body_over_max_content_length_is_refused_by_nginx(nginx: Nginx) -> None:
    status, _, _ = call(nginx, "POST", "/api/v1/applications", {"name": "x" * (1 << 20)})
    assert status == 413
    assert "client intended to send too large body" in nginx.log_tail()


def test_the_service_sees_the_client_address_from_nginx(nginx: Nginx, gunicorn: Gunicorn) -> None:
    # What a client sends as X-Forwarded-For is replaced: nginx is the edge.
    status, _, _ = call(nginx, "GET", "/healthz?xff", **{"X-Forwarded-For": "203.0.113.9"})

    assert status == 200
    assert "forwarded for=127.0.0.1 proto=http GET /healthz?xff " in access_line(gunicorn, "?xff")


def access_line(gunicorn: Gunicorn, marker: str) -> str:
    """Return gunicorn's access line for the request whose path holds `marker`."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # gunicorn writes it just after answering
        lines = [line for line in gunicorn.log_tail(400).splitlines() if marker in line]
        if lines:
            return lines[-1]
        time.sleep(0.05)  # polling interval
    raise AssertionError(f"no access line for {marker}:\n{gunicorn.log_tail()}")


def test_slow_clients_through_nginx_do_not_block_the_worker(
    nginx: Nginx, gunicorn: Gunicorn
) -> None:
    # 40 clients each sending a header line a second (for 8 s) at a worker of 16 threads:
    # straight at gunicorn they hold every thread; nginx keeps them to itself.
    with slowloris(nginx.port, connections=40, seconds=8.0):
        time.sleep(1.5)  # every connection has sent a few lines
        through_nginx = worst_healthz_ms(nginx.port, seconds=5.0, timeout=5.0)
        direct = healthz_ms(gunicorn.port, timeout=5.0)

    assert through_nginx < 100, f"/healthz through nginx took {through_nginx:.0f} ms"
    assert direct < 100, f"/healthz on the worker took {direct:.0f} ms"
