"""`make run` (devtools/serve.py): a taken port, the token shown last, nothing left running."""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from devtools import devdb, serve
from tests.test_devdb import needs_embedded

# serve.main() on a scratch data dir, whatever .env says: the project's own is never touched.
SERVE = (
    "import sys; from pathlib import Path; from devtools import devdb, serve\n"
    "devdb.DEFAULT_DATA_DIR = Path({data_dir!r})\n"
    "devdb.configured_database_url = lambda cwd=None: None\n"
    "sys.exit(serve.main([]))\n"
)


@pytest.fixture
def taken() -> Iterator[str]:
    """A TCP address something listens on."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_a_taken_address_is_one_line_naming_gunicorn_bind(taken: str) -> None:
    message = serve.bind_error(taken)
    assert message is not None and "\n" not in message
    assert taken in message and "GUNICORN_BIND=" in message
    port = int(taken.rsplit(":", 1)[1])
    assert f"127.0.0.1:{port + 1}" in message


@pytest.mark.parametrize("bind", ["127.0.0.1:0", "unix:/tmp/x.sock", "fd://3", "nonsense:port"])
def test_a_free_or_unchecked_address_is_no_error(bind: str) -> None:
    assert serve.bind_error(bind) is None


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_make_run_stops_before_any_banner_when_the_port_is_taken(taken: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "run"],
        cwd=devdb.PROJECT_ROOT,
        env={**os.environ, "GUNICORN_BIND": taken, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == serve.bind_error(taken)


def test_the_token_is_shown_even_when_gunicorn_fails_to_start() -> None:
    # A secret is shown only once: losing it to a failed start would leave no admin token.
    code = "import sys; from devtools import serve; sys.exit(serve.serve('127.0.0.1:1', 'cs_x\\n'))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=devdb.PROJECT_ROOT,
        env={**os.environ, "GUNICORN_WORKERS": "many", "DATABASE_URL": "postgresql://u@h/d"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stdout == "cs_x\n"  # no banner: nothing serves


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_until_token(process: subprocess.Popen[str], deadline: float) -> list[str]:
    """Lines of the merged output up to the admin token's secret (its last line)."""
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("cs_"):
            return lines
    pytest.fail("no token shown:\n" + "\n".join(lines))


def _get(port: int, path: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
        return conn.getresponse().status
    finally:
        conn.close()


@needs_embedded
def test_make_run_shows_the_token_last_and_stops_its_database_on_sigterm() -> None:
    scratch = Path(tempfile.mkdtemp(prefix="test-", dir=devdb.PROJECT_ROOT / ".devdb"))
    data_dir = scratch / "pgdata"
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GUNICORN_", "KEEP_DEVDB"))},
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "4",
    }
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE.format(data_dir=str(data_dir))],
        cwd=devdb.PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    children: list[psutil.Process] = []
    try:
        lines = _read_until_token(process, time.monotonic() + 90)
        children = psutil.Process(process.pid).children(recursive=True)
        banner = lines.index(f"Config Service on http://127.0.0.1:{port} - try: "
                             f"curl -s http://127.0.0.1:{port}/healthz")  # fmt: skip
        assert any("Listening at" in line for line in lines[:banner])
        assert not any(line.startswith("{") for line in lines[banner:])  # no log below it
        assert _get(port, "/api/v1/applications", lines[-1]) == 200
        database = devdb.server_pid(data_dir)
        assert database is not None

        process.send_signal(signal.SIGTERM)  # as make passes it on
        assert process.wait(timeout=60) == 0
        assert "stopped the embedded PostgreSQL" in process.stdout.read()  # type: ignore[union-attr]
        assert devdb.server_pid(data_dir) is None and not devdb._pid_alive(database)
        assert not [child for child in children if child.is_running()]
    finally:
        if process.poll() is None:
            process.kill()
        for child in children:  # gunicorn and its worker, by the pids this test saw
            if child.is_running():
                child.kill()
        process.wait()
        devdb.stop_server(data_dir)
        if devdb.server_pid(data_dir) is None:
            shutil.rmtree(scratch, ignore_errors=True)
