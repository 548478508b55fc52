"""gunicorn settings, read from the environment with production defaults."""

import glob
import multiprocessing
import os
import shutil
import sys
import tempfile

from app.settings import SettingsError, load_settings

# Stop the master with one clear line before any worker starts on a bad setting.
try:
    load_settings()
except SettingsError as exc:
    sys.exit(f"config-service: {exc}")

# /metrics adds up every worker's figures through files in one folder (prometheus-client's
# multiprocess mode). Without PROMETHEUS_MULTIPROC_DIR the master makes a private folder;
# either way the variable is set here, before any process imports prometheus_client.
METRICS_DIR_MADE = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if METRICS_DIR_MADE:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="config-service-metrics-")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
# gthread: a long-poll watcher holds a thread (not a database connection) while it
# waits, so each worker needs many threads; they are started only when needed, and an
# idle one costs a small stack. Connections do not spread evenly over the workers: with
# 256, 1,000 watchers on 5 workers filled one worker's threads in 3 of 4 benchmark runs,
# and requests it had accepted waited for a watcher to finish (a GET p99 of 5.4 s).
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "512"))
# A worker stops accepting at this many connections (keep-alive ones included); the 64
# over `threads` are headroom for idle keep-alive connections.
worker_connections = threads + 64
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Never build the app (and so a pool) before the fork: workers must not share sockets.
preload_app = False
# The app logs one structured line per request; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"


def post_worker_init(worker):
    """On SIGTERM, also end the worker's long polls at once (they could outlast the graceful
    timeout): each answers 304 and the worker exits once its other requests are done."""
    import signal
    import threading

    from app.notifications import end_waits

    graceful_exit = worker.handle_exit

    def handle_exit(sig, frame):
        graceful_exit(sig, frame)
        app = getattr(worker, "wsgi", None)
        if app is not None and hasattr(app, "extensions"):
            # Not in the handler itself: waking the waiters takes the listener's lock.
            threading.Thread(target=end_waits, args=(app,), daemon=True).start()

    signal.signal(signal.SIGTERM, handle_exit)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn has it: no EINTR in requests


def worker_exit(server, worker):
    """Close the worker's database pool and change listener when it stops, and hand its
    last second of request counts to the metrics."""
    from app.db import close_pool
    from app.notifications import stop_listener

    app = getattr(worker, "wsgi", None)
    if app is not None and hasattr(app, "extensions"):
        stop_listener(app)
        close_pool(app)
        app.extensions["metrics"].flush()


def on_starting(server):
    """Start the metrics from zero: remove what an earlier run left in the folder."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for path in glob.glob(os.path.join(directory, "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its counters stay in the totals)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    """Remove the metrics folder if this master made it."""
    if METRICS_DIR_MADE:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
