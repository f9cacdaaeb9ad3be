"""Gunicorn settings for sendmailproxy: one section per concern, every value from SMSP_* / WEB_CONCURRENCY."""
import os

from sendmailproxy.config import load_or_exit
from sendmailproxy.logconfig import logging_config

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
accesslog = None

# --- Housekeeping
# Gunicorn >= 25 opens a control socket under $HOME; a read-only container has nowhere to put it.
control_socket_disable = True
# Heartbeat files on tmpfs: a disk-backed /tmp can stall the heartbeat and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None


def post_fork(server, worker):
    """Start this worker's probe thread (after the fork: threads do not survive one)."""
    worker.app.wsgi().extensions["sendmailproxy"].prober.ensure_running()
