"""The provider registry: every name SMSP_PROVIDERS accepts has settings, an adapter, a fake, docs and tests."""
from collections.abc import Mapping
from pathlib import Path

import pytest

from fakeproviders import FAKES
from sendmailproxy.config import Config, ConfigError
from sendmailproxy.envreader import EnvReader
from sendmailproxy.providers import ADAPTERS
from sendmailproxy.service import build_providers

ROOT = Path(__file__).resolve().parents[2]
COMMON = {"SMSP_API_KEY": "k", "SMSP_POLL_MESSAGE_ADDRESS": "probe@example.com"}


class RecordingEnv(Mapping):
    """An empty environment that remembers which variables were asked for."""

    def __init__(self):
        self.asked: set[str] = set()

    def __getitem__(self, name):
        self.asked.add(name)
        raise KeyError(name)

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0


def variables_read_by(adapter) -> set[str]:
    env = RecordingEnv()
    adapter.Settings.from_env(EnvReader(env), required=True)
    return env.asked


@pytest.fixture(params=sorted(ADAPTERS))
def name(request):
    return request.param


def test_the_registry_is_keyed_by_each_adapters_own_name(name):
    assert ADAPTERS[name].name == name


def test_every_provider_has_a_fake_a_docs_page_and_tests(name):
    assert name in FAKES, f"fakeproviders.FAKES has no fake for {name}"
    assert (ROOT / "docs" / "providers" / f"{name}.md").is_file()
    assert (ROOT / "tests" / "providers" / f"test_{name}.py").is_file()
    assert f"[docs/providers/{name}.md](docs/providers/{name}.md)" in (ROOT / "README.md").read_text()


def test_every_variable_a_provider_reads_is_documented_on_its_page(name):
    page = (ROOT / "docs" / "providers" / f"{name}.md").read_text()
    variables = variables_read_by(ADAPTERS[name])
    assert variables and all(v.startswith("SMSP_") for v in variables)
    assert {v for v in variables if f"`{v}`" not in page} == set()


def test_a_listed_provider_without_its_settings_is_a_config_error(name):
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**COMMON, "SMSP_PROVIDERS": name})
    assert "is required" in str(raised.value)


def test_mock_mode_needs_none_of_a_providers_settings(name):
    config = Config.from_env({**COMMON, "SMSP_PROVIDERS": name, "SMSP_MOCK_EMAIL_SERVICE": "true"})
    assert [p.name for p in build_providers(config)] == [name]


def test_the_fakes_environment_configures_its_provider(name):
    # The fake's service_env and the adapter's Settings name the same variables.
    fake = FAKES[name]
    options = dict(fake.OPTIONS)
    env = {**COMMON, "SMSP_PROVIDERS": name, **fake.service_env("http://127.0.0.1:9", options)}
    config = Config.from_env(env)
    assert [type(p) for p in build_providers(config)] == [ADAPTERS[name]]


def test_every_provider_states_how_long_one_send_can_take(name):
    # An Idempotency-Key's lease is every provider's max_send_seconds in turn, plus a margin.
    fake = FAKES[name]
    env = {**COMMON, "SMSP_PROVIDERS": name, **fake.service_env("http://127.0.0.1:9", dict(fake.OPTIONS))}
    config = Config.from_env(env)
    [provider] = build_providers(config)
    assert provider.max_send_seconds >= 2 * config.provider_timeout  # at least a connect and a reply


def test_providers_names_every_registered_provider_in_its_complaint():
    with pytest.raises(ConfigError) as raised:
        Config.from_env({**COMMON, "SMSP_PROVIDERS": "mailgun,nosuch"})
    assert all(name in str(raised.value) for name in ADAPTERS)
