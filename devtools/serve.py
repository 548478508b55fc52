"""`make run`: serve the service for development, and stop what it started when it stops.

Checks that GUNICORN_BIND is free, attaches to the database (DATABASE_URL, else the
embedded PostgreSQL), migrates it, makes the first admin token, runs gunicorn, and once
it answers prints where it serves and the token last, so it does not scroll away under
the logs. On Ctrl-C or SIGTERM gunicorn stops, then the embedded PostgreSQL if this run
started it, unless KEEP_DEVDB=1.

Only the standard library is imported at module level: `python -m devtools.serve
--check-bind` runs before the virtualenv is made.
"""

from __future__ import annotations

import errno
import http.client
import importlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

DEFAULT_BIND = "127.0.0.1:8000"
START_DEADLINE = 60.0  # seconds for gunicorn to answer /healthz


def _address(bind: str) -> tuple[str, int] | None:
    """(host, port) of a TCP bind such as `127.0.0.1:8000` or `[::1]:8000`; None otherwise."""
    if bind.startswith(("unix:", "fd://")) or "/" in bind:
        return None
    host, _, port = bind.rpartition(":") if ":" in bind else (bind, "", "8000")
    try:
        return host.strip("[]") or "0.0.0.0", int(port)
    except ValueError:
        return None


def bind_in_use(bind: str) -> bool:
    """Tell whether something already listens on the TCP address gunicorn would bind."""
    address = _address(bind)
    if address is None:
        return False  # a unix socket or a file descriptor: gunicorn reports its own errors
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(*address, type=socket.SOCK_STREAM)[0]
    except OSError:
        return False
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            probe.bind(sockaddr)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def bind_error(bind: str) -> str | None:
    """One line saying the address is taken and what to do, or None when it is free."""
    if not bind_in_use(bind):
        return None
    address = _address(bind)
    other = f"{address[0]}:{address[1] + 1}" if address else "127.0.0.1:8001"
    return (
        f"config-service: {bind} is already in use (another server?); "
        f"set GUNICORN_BIND to a free address, e.g. GUNICORN_BIND={other} make run"
    )


def prepare(url: str, base_url: str) -> str:
    """Migrate the database and make the first admin token; return what the token step said."""
    os.environ["DATABASE_URL"] = url
    from app import create_app

    runner = create_app().test_cli_runner()
    for args in (["migrate"], ["tokens", "bootstrap", "--url", base_url]):
        result = runner.invoke(args=args)
        if result.exit_code != 0:
            raise SystemExit(result.output.rstrip() or f"flask {' '.join(args)} failed")
        if args == ["migrate"]:
            print(result.output, end="", flush=True)
    return result.output


def _answers(bind: str) -> bool:
    host, port = _address(bind) or ("", 0)
    conn = http.client.HTTPConnection("127.0.0.1" if host == "0.0.0.0" else host, port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def serve(bind: str, tokens: str) -> int:
    """Run gunicorn until it exits; once it answers, print the banner and `tokens` last."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    child = subprocess.Popen([gunicorn, "-c", "gunicorn.conf.py", "wsgi:app"])
    # Ctrl-C reaches gunicorn from the terminal; a SIGTERM for us (make passes one on) too.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: child.send_signal(signum))
    _wait_until_serving(child, bind)
    if child.poll() is None:
        url = f"http://{bind}"
        print(f"\nConfig Service on {url} - try: curl -s {url}/healthz", flush=True)
    print(tokens, end="", flush=True)  # even if gunicorn failed: a secret is shown only once
    return child.wait()


def _wait_until_serving(child: subprocess.Popen[bytes], bind: str) -> None:
    """Return once gunicorn answers on a TCP `bind` (at once for others), or exits, or late."""
    deadline = time.monotonic() + START_DEADLINE
    while _address(bind) and child.poll() is None and time.monotonic() < deadline:
        if _answers(bind):
            return
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    bind = os.environ.get("GUNICORN_BIND", DEFAULT_BIND)
    message = bind_error(bind)
    if message:
        print(message, file=sys.stderr)
        return 1
    if args == ["--check-bind"]:
        return 0
    # Until gunicorn runs, a SIGTERM ends this process through its `finally` blocks.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    # Import (and on a fresh install, compile) the app while the database starts.
    threading.Thread(target=importlib.import_module, args=("app",), daemon=True).start()
    from devtools import devdb

    keep = os.environ.get("KEEP_DEVDB", "") not in ("", "0")
    try:
        with devdb.command_database(keep=keep) as url:
            if not devdb.configured_database_url():
                print(_devdb_note(keep), file=sys.stderr, flush=True)
            return serve(bind, prepare(url, f"http://{bind}"))
    except devdb.DevDBError as exc:
        print(f"devdb: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _devdb_note(keep: bool) -> str:
    from devtools.devdb import DEFAULT_DATA_DIR, server_pid

    after = (
        "keeps running after the service stops (KEEP_DEVDB)"
        if keep
        else "stops with the service if this run started it (KEEP_DEVDB=1 keeps it running)"
    )
    pid = server_pid(DEFAULT_DATA_DIR)
    return f"devdb: embedded PostgreSQL (pid {pid}), data in {DEFAULT_DATA_DIR}; it {after}"


if __name__ == "__main__":
    sys.exit(main())
