"""Fixtures that start the fake providers and gunicorn as real processes on 127.0.0.1."""
from __future__ import annotations

import pytest

from fakeproviders.client import run_fake_providers
from testkit.harness import Gunicorn, provider_env
from testkit.redisserver import redis_server  # noqa: F401 - a fixture

pytestmark = pytest.mark.functional


def stop_and_check_logs(services: list[Gunicorn], show: bool) -> None:
    """Stop the services; print their log tails if a test failed; then check every line of each log is JSON."""
    for service in services:
        service.stop()
    if show:
        for service in services:
            print(f"\n--- {service.log_path} (tail) ---\n{service.log_tail()}")
    for service in services:
        service.log_records()  # README: JSON lines, gunicorn's own included, whatever the test did


@pytest.fixture(scope="session")
def fake():
    with run_fake_providers() as running:
        yield running


@pytest.fixture
def clean_fake(fake):
    """The shared fake, with no faults and no records left by an earlier test."""
    fake.control.reset_faults()
    fake.control.clear()
    yield fake
    fake.control.reset_faults()


@pytest.fixture
def start_service(clean_fake, tmp_path, request):
    """Factory: start gunicorn against the fake with env overrides; stopped (and its log shown on failure) after."""
    started: list[Gunicorn] = []

    def start(**overrides) -> Gunicorn:
        service = Gunicorn(provider_env(clean_fake, **overrides), tmp_path / f"gunicorn-{len(started)}.log")
        started.append(service)
        return service.start()

    yield start
    stop_and_check_logs(started, show=getattr(request.node, "failed", False))


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True
    return report


@pytest.fixture(scope="module")
def start_module_service(fake, tmp_path_factory, request):
    """Like start_service, for a module whose tests share one gunicorn (each test resets its own faults)."""
    started: list[Gunicorn] = []
    failed_before = request.session.testsfailed
    log_dir = tmp_path_factory.mktemp("gunicorn")

    def start(app: str = "wsgi:app", **overrides) -> Gunicorn:
        service = Gunicorn(provider_env(fake, **overrides), log_dir / f"gunicorn-{len(started)}.log", app=app)
        started.append(service)
        return service.start()

    yield start
    stop_and_check_logs(started, show=request.session.testsfailed > failed_before)
