"""Gunicorn settings for sendmailproxy: one section per concern, every value from SMSP_* / WEB_CONCURRENCY."""
import glob
import os
import shutil
import tempfile

from gunicorn import glogging

# Files written on every request (metrics) or every second (worker heartbeats) belong on tmpfs: on a disk,
# writeback can stall the writer.
_TMPFS = "/dev/shm" if os.path.isdir("/dev/shm") else None

# --- Metrics (first: prometheus_client picks multiprocess mode when it is imported, so the directory must
# be known before the app is). Each worker writes its own files there; /metrics sums them. A directory
# we are given (Kubernetes mounts one, in memory) is emptied of an earlier run's files; otherwise we make
# our own.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _metrics_dir, _own_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"], False
    os.makedirs(_metrics_dir, exist_ok=True)
    for stale in glob.glob(os.path.join(_metrics_dir, "*.db")):
        os.remove(stale)
else:
    _metrics_dir, _own_metrics_dir = tempfile.mkdtemp(prefix="sendmailproxy-metrics-", dir=_TMPFS), True
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir

from sendmailproxy.config import load_or_exit  # noqa: E402 - after the metrics directory, see above
from sendmailproxy.logconfig import logging_config  # noqa: E402

# Validated once, before any worker forks: a bad environment stops the master with one readable message.
_config = load_or_exit()

# --- Server socket
bind = _config.bind

# --- Workers
# The proxy spends its time waiting on providers (100-300 ms), so threads, not processes, carry the
# concurrency: gthread keeps idle keep-alive connections out of the thread pool, and each thread
# blocks on its own pooled provider connection. Processes add CPU parallelism; every one keeps its
# own circuits and probe thread.
worker_class = "gthread"
workers = _config.workers
threads = _config.threads

# --- Application
# Load (and validate) the app in the master, then fork: workers share its memory copy-on-write and
# post_fork below starts each worker's probe thread, never the master's.
preload_app = True

# --- Timeouts
timeout = 30  # a worker silent this long is killed and replaced
graceful_timeout = 30  # SIGTERM lets in-flight requests finish within this (Kubernetes gives 45 s)
keepalive = 5  # seconds an idle client connection is kept; load balancers should use a longer idle timeout

# --- Logging: gunicorn's own lines in the service's JSON format; the app logs one line per request.
logconfig_dict = logging_config(_config.log_format, _config.log_debug)


class NoAccessLogger(glogging.Logger):
    """Gunicorn's logger without access lines: with a logging dict set, gunicorn 27 would write one per
    request, and build its fields per request even if a level dropped it."""

    def access(self, resp, req, environ, request_time):
        pass


logger_class = NoAccessLogger

# --- Housekeeping
# Gunicorn >= 25 opens a control socket under $HOME; a read-only container has nowhere to put it.
control_socket_disable = True
# Heartbeat files on tmpfs (see _TMPFS): a stalled heartbeat gets a worker killed.
worker_tmp_dir = _TMPFS


def post_fork(server, worker):
    """Start this worker's probe thread and push thread (after the fork: threads do not survive one)."""
    service = worker.app.wsgi().extensions["sendmailproxy"]
    service.prober.ensure_running()
    if service.sender is not None:  # events are pushed to the application
        service.sender.ensure_running()
    _stop_listening_when_draining(worker)


def _stop_listening_when_draining(worker):
    """On SIGTERM, close this worker's copy of the listening socket as soon as it stops accepting."""
    # The master closes its copy at once, but every worker keeps one until its in-flight requests end; until
    # then the kernel completes handshakes nobody will serve and resets them at exit. Closed copies make new
    # connections refused at once, so clients retry elsewhere, while in-flight requests still finish.
    stop_accepting = getattr(worker, "set_accept_enabled", None)  # gthread's; tests notice if it goes away
    if stop_accepting is None:  # another worker class (sync, for comparison): leave it as gunicorn made it
        return

    def set_accept_enabled(enabled):
        stop_accepting(enabled)
        if not enabled and not worker.alive:
            for listener in worker.sockets:
                listener.close()

    worker.set_accept_enabled = set_accept_enabled


def pre_request(worker, req):
    """Close the connection after a body we will refuse (413) rather than read it to reuse the connection."""
    length = next((value for name, value in req.headers if name == "CONTENT-LENGTH"), "")
    if length.isdigit() and int(length) > _config.max_body_bytes:
        req.must_close = True


def child_exit(server, worker):
    """Drop a dead worker's live gauges (its circuit states), so a replaced worker's open circuit is not reported."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
