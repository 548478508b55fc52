"""gunicorn settings, read from the environment with production defaults."""

import glob
import multiprocessing
import os
import resource
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
# gevent (the default): a long-poll watcher is a greenlet that costs memory only (a few KiB),
# never a thread, so a worker holds thousands; app/green.py makes psycopg2 yield while it
# waits on PostgreSQL. gthread (GUNICORN_WORKER_CLASS=gthread) is still served and tested:
# there a watcher holds one of the worker's `threads`.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
threads = int(os.environ.get("GUNICORN_THREADS", "512"))  # gthread only
# A worker stops accepting at this many connections (keep-alive ones included). Connections
# do not spread evenly over the workers, so under gevent one worker may take a node's
# 10,000 watchers; under gthread the 64 over `threads` are for idle keep-alive connections.
worker_connections = int(
    os.environ.get(
        "GUNICORN_WORKER_CONNECTIONS", 12_000 if worker_class == "gevent" else threads + 64
    )
)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Each connection is a file descriptor: raise the soft limit (inherited by the workers) as far
# as the hard limit allows, which the administrator sets (systemd's LimitNOFILE=, ulimit -Hn).
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
_wanted = worker_connections + 1024  # the pool, the LISTEN connection, logs, metrics files
if _hard != resource.RLIM_INFINITY:
    _wanted = min(_wanted, _hard)
if _soft != resource.RLIM_INFINITY and _soft < _wanted:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_wanted, _hard))
if _wanted < worker_connections + 1024:
    print(
        f"config-service: RLIMIT_NOFILE hard limit {_hard} is below worker_connections"
        f" ({worker_connections}) + 1024: a worker may run out of file descriptors",
        file=sys.stderr,
    )
# Never build the app (and so a pool) before the fork: workers must not share sockets.
preload_app = False
# The app logs one structured line per request; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
# gunicorn's control socket (for `gunicornc`) has one default path per user, so a second
# instance would take over (and on exit delete) the first one's: off unless a path is given.
control_socket = os.environ.get("GUNICORN_CONTROL_SOCKET", "")
control_socket_disable = not control_socket


def post_worker_init(worker):
    """On SIGTERM, also end the worker's long polls at once (they could outlast the graceful
    timeout): each answers 304 and the worker exits once its other requests are done."""
    import signal

    from app.green import spawn

    graceful_exit = worker.handle_exit

    def handle_exit(sig, frame):
        graceful_exit(sig, frame)
        app = getattr(worker, "wsgi", None)
        if app is not None and "worker" in getattr(app, "extensions", {}):
            # Not in the handler itself: waking the waiters takes the listener's lock (and
            # under gevent the handler runs in the event loop, where nothing may block).
            spawn(app.extensions["worker"].end_waits)

    signal.signal(signal.SIGTERM, handle_exit)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn has it: no EINTR in requests


def worker_exit(server, worker):
    """Stop the worker's listener and sampler, close its pool and hand its last second of
    request counts to the metrics."""
    app = getattr(worker, "wsgi", None)
    if app is not None and "worker" in getattr(app, "extensions", {}):
        app.extensions["worker"].shutdown()


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
