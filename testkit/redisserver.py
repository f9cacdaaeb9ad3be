"""A real redis-server (Debian's package) on a free 127.0.0.1 port, persistence off, for the tests and the bench."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from testkit.polling import wait_until
from testkit.ports import free_port

START_TIMEOUT_S = 10


class RedisServer:
    """`redis-server` as a child process; stop() and start() again keep its port (an outage and a restart)."""

    def __init__(self, directory: Path):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.fail("redis-server is not installed: ./scripts/test installs it (Debian package redis-server)")
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> "RedisServer":
        log = open(self.directory / "redis.log", "ab")
        # No RDB snapshots, no AOF: nothing is written to disk, and nothing survives a stop.
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.directory), "--daemonize", "no", "--protected-mode", "yes"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        client = redis.Redis(port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            wait_until(lambda: self._answers(client), "redis-server to answer PING", START_TIMEOUT_S, 0.05)
        finally:
            client.close()
        return self

    def _answers(self, client: redis.Redis) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"redis-server exited with {self.process.returncode}: "
                                 f"{(self.directory / 'redis.log').read_text(errors='replace')[-2000:]}")
        try:
            return client.ping()
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5, decode_responses=True)


@pytest.fixture
def redis_server(tmp_path_factory):
    """A fresh redis-server for one test, stopped after it."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
