# sendmailproxy container image.
#
#   docker build -t sendmailproxy .
#   docker run --rm -p 8080:8080 --env-file .env --read-only --tmpfs /tmp sendmailproxy
#
# The base is pinned once, here, and both stages derive from it so the venv's
# interpreter symlink (/opt/venv/bin/python -> /usr/local/bin/python3.11)
# resolves in the final image. (Deliberately not an ARG: hadolint cannot check
# a tag hidden behind a build arg.) Bump the patch version on purpose and
# re-run the tests; add @sha256:<digest> if your registry policy requires it.
FROM python:3.11.14-slim-bookworm AS base

# ---------------------------------------------------------------------------
# builder: resolve and install the Python dependencies into /opt/venv.
# ---------------------------------------------------------------------------
FROM base AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN python -m venv /opt/venv

# Dependencies first so that code edits don't invalidate this layer.
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt

WORKDIR /app
# The package holds swagger.yaml too: the app reads its spec from there.
COPY sendmailproxy/ ./sendmailproxy/
COPY wsgi.py gunicorn.conf.py ./
# The root filesystem is read-only at runtime and PYTHONDONTWRITEBYTECODE is
# set there, so byte-compile the app now. checked-hash pycs don't depend on
# file mtimes surviving the COPY into the final stage.
RUN /opt/venv/bin/python -m compileall -q --invalidation-mode checked-hash /app

# ---------------------------------------------------------------------------
# final: runtime only. No compilers, no pip cache, no build context.
# ---------------------------------------------------------------------------
FROM base AS final

LABEL org.opencontainers.image.title="sendmailproxy" \
      org.opencontainers.image.description="HTTP email proxy that fails over between Mailgun, SendGrid, Amazon SES, Postmark and SMTP"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    PROMETHEUS_MULTIPROC_DIR=/tmp/metrics

# Fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it and
# runAsUser: 10001 matches. No home directory, no login shell.
RUN groupadd --system --gid 10001 sendmailproxy \
 && useradd --system --uid 10001 --gid 10001 --no-log-init --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin sendmailproxy

# Owned by root and not writable by the app user: the process cannot modify
# its own code or dependencies even when the root FS is not mounted read-only.
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app

WORKDIR /app
USER 10001:10001

EXPOSE 8080

# Liveness of the process itself; python's urllib because slim has no curl.
# urlopen raises (non-zero exit) on connection errors and on non-2xx replies.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthcheck', timeout=3)"]

# gunicorn treats SIGTERM as a graceful shutdown (graceful_timeout).
STOPSIGNAL SIGTERM

ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
