"""The suppression list's settings: SMSP_SUPPRESSION, SMSP_SUPPRESSION_ON_STORE_ERROR and SMSP_ADMIN_API_KEY."""
import pytest

from sendmailproxy.config import Config, ConfigError
from tests.unit.test_config import PRODUCTION


def test_the_list_is_on_and_fails_open_and_the_admin_api_is_off_by_default():
    config = Config.from_env(PRODUCTION)
    assert (config.suppression, config.suppression_on_store_error, config.admin_api_keys) == (True, "send", ())


def test_every_suppression_setting_is_read():
    config = Config.from_env({**PRODUCTION, "SMSP_SUPPRESSION": "off", "SMSP_SUPPRESSION_ON_STORE_ERROR": "Refuse",
                              "SMSP_ADMIN_API_KEY": " admin-new , admin-old ,"})
    assert (config.suppression, config.suppression_on_store_error) == (False, "refuse")
    assert config.admin_api_keys == ("admin-new", "admin-old")


@pytest.mark.parametrize("name, value, problem", [
    ("SMSP_SUPPRESSION", "maybe", "SMSP_SUPPRESSION must be true or false"),
    ("SMSP_SUPPRESSION_ON_STORE_ERROR", "fail", "SMSP_SUPPRESSION_ON_STORE_ERROR must be send or refuse"),
    ("SMSP_ADMIN_API_KEY", "x, client-key", "SMSP_ADMIN_API_KEY must not repeat a key of SMSP_API_KEY"),
])
def test_a_bad_value_is_named(name, value, problem):
    with pytest.raises(ConfigError, match=problem) as raised:
        Config.from_env({**PRODUCTION, name: value})
    assert "client-key" not in str(raised.value)


def test_admin_keys_stay_out_of_the_repr():
    config = Config.from_env({**PRODUCTION, "SMSP_ADMIN_API_KEY": "admin-secret"})
    assert "admin-secret" not in repr(config)
