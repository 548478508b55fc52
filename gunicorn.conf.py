"""gunicorn settings, read from the environment with production defaults."""

import multiprocessing
import os
import sys

from app.settings import SettingsError, load_settings

# Stop the master with one clear line before any worker starts on a bad setting.
try:
    load_settings()
except SettingsError as exc:
    sys.exit(f"config-service: {exc}")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# gthread: a long-poll watcher holds a thread (not a database connection) while it
# waits, so each worker needs many threads; idle ones cost a small stack each.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "256"))
# Accept no more connections than the worker can serve at once (plus keep-alive
# headroom), so a busy worker leaves new connections to the others.
worker_connections = threads + 64
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Never build the app (and so a pool) before the fork: workers must not share sockets.
preload_app = False
# The app logs one structured line per request; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"


def worker_exit(server, worker):
    """Close the worker's database pool and change listener when it stops."""
    from app.db import close_pool
    from app.notifications import stop_listener

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        stop_listener(app)
        close_pool(app)
