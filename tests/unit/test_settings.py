"""Settings are a pure function of the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from connect_operator.errors import SettingsError
from connect_operator.settings import ENVIRONMENT_VARIABLES, Settings
from tests.support.shell_operator import REPO_ROOT


def test_defaults_match_the_documented_ones() -> None:
    settings = Settings.from_env({})
    assert settings.connect_url == "http://connect"
    assert settings.config_dir == Path("/etc/config/connect-operator")
    assert settings.confluent_cloud_api_url == "https://api.confluent.cloud"
    assert settings.watch_namespaces == ("default",)
    assert settings.label_selector == "destination=connect"
    assert settings.resync_schedule == "*/5 * * * *"
    assert settings.max_deletes == 10


def test_base_url_is_honoured_and_connect_url_wins() -> None:
    assert Settings.from_env({"BASE_URL": "http://old:8083/"}).connect_url == "http://old:8083"
    both = {"BASE_URL": "http://old", "CONNECT_URL": "http://new"}
    assert Settings.from_env(both).connect_url == "http://new"


def test_watched_namespaces_default_to_the_pod_namespace() -> None:
    assert Settings.from_env({"POD_NAMESPACE": "ops"}).watch_namespaces == ("ops",)
    assert Settings.from_env({"WATCH_NAMESPACES": " b, a ,"}).watch_namespaces == ("a", "b")
    assert Settings.from_env({"WATCH_NAMESPACES": "*"}).watch_namespaces is None


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"CONNECT_URL": "connect:8083"}, "CONNECT_URL"),
        ({"WATCH_NAMESPACES": "Bad_NS"}, "WATCH_NAMESPACES"),
        ({"CONNECT_OPERATOR_RUN_DEADLINE": "soon"}, "CONNECT_OPERATOR_RUN_DEADLINE"),
        ({"CONNECT_OPERATOR_REQUEST_TIMEOUT": "-1"}, "CONNECT_OPERATOR_REQUEST_TIMEOUT"),
        ({"CONNECT_OPERATOR_MAX_DELETES": "x"}, "CONNECT_OPERATOR_MAX_DELETES"),
    ],
)
def test_bad_values_name_their_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        Settings.from_env(env)


def test_a_negative_delete_limit_means_no_limit() -> None:
    assert Settings.from_env({"CONNECT_OPERATOR_MAX_DELETES": "-1"}).max_deletes is None


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for name in ENVIRONMENT_VARIABLES:
        assert f"`{name}`" in readme, name
