"""Gunicorn settings for the baselines: the service's worker model and defaults, without its hooks or logging."""
import os

# --- Server socket: bench/servers.py always sets a 127.0.0.1 address.
bind = os.environ["SMSP_BIND"]

# --- Workers: the same class, and the counts bench/servers.py copies from the service's defaults.
worker_class = "gthread"
workers = int(os.environ["WEB_CONCURRENCY"])
threads = int(os.environ["SMSP_THREADS"])

# --- Application and timeouts, as in the service's gunicorn.conf.py.
preload_app = True
timeout = 30
keepalive = 5

# --- Housekeeping
accesslog = None
control_socket_disable = True
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
