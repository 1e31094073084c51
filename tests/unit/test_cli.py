"""The `connect-operator` command line, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from connect_operator.binding import binding_configuration
from connect_operator.cli import cli
from connect_operator.settings import Settings
from tests.support.fake_clock import FakeClock, reconcile_waiting_on
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ObjectStore, group_contexts
from tests.unit.conftest import CANARIES, DATA


@pytest.fixture
def context_file(tmp_path: Path) -> Path:
    store = ObjectStore()
    store.load_manifests(
        [DATA / "configmaps" / "orders-source.yaml", DATA / "configmaps" / "sinks-multi.yaml"]
    )
    path = tmp_path / "binding-context.json"
    path.write_text(json.dumps(group_contexts(binding_configuration(Settings()), store)))
    return path


@pytest.fixture
def env(fake_connect: FakeConnect) -> dict[str, str]:
    return {
        "CONNECT_URL": fake_connect.url,
        "CONNECT_OPERATOR_CONFIG_DIR": str(DATA / "variables"),
        "CONNECT_OPERATOR_RUN_DEADLINE": "20",
    }


def invoke(args: list[str], env: dict[str, str]):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


@pytest.mark.parametrize(
    "command", [[], ["run"], ["render"], ["hook"], ["config"], ["status"], ["settings"]]
)
def test_every_command_has_useful_help(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output and len(result.output.splitlines()) > 4


def test_run_reconciles_and_prints_a_summary_per_connector(
    context_file: Path, env: dict[str, str], fake_connect: FakeConnect, tmp_path: Path
) -> None:
    patch = tmp_path / "patch.json"
    result = invoke(
        ["run", "--binding-context", str(context_file), "--patch-file", str(patch)], env
    )
    assert result.exit_code == 0, result.output
    assert "created              orders-source" in result.output
    assert "3 created, 0 updated, 0 unchanged, 0 deleted, 0 failed" in result.output
    assert sorted(fake_connect.connectors) == ["audit-sink", "orders-sink", "orders-source"]
    operations = [json.loads(line) for line in patch.read_text().splitlines()]
    events = [op for op in operations if op.get("object", {}).get("kind") == "Event"]
    assert sorted(op["object"]["reason"] for op in events) == ["Created"] * 3
    operations = [op for op in operations if op not in events]
    assert [op["operation"] for op in operations] == ["CreateIfNotExists", "MergePatch"] * (
        len(operations) // 2
    )
    for canary in CANARIES:
        assert canary not in result.output and canary not in patch.read_text()


def test_dry_run_prints_the_plan_and_writes_nothing(
    context_file: Path, env: dict[str, str], fake_connect: FakeConnect
) -> None:
    fake_connect.connectors["orders-sink"] = {
        "connector.class": "FileStreamSink",
        "topics": "old",
        "name": "orders-sink",
    }
    result = invoke(["run", "--binding-context", str(context_file), "--dry-run"], env)
    assert result.exit_code == 0
    assert (
        "would be updated" in result.output and "(keys: file, tasks.max, topics)" in result.output
    )
    assert "would be created" in result.output
    assert fake_connect.writes() == []


def test_run_exits_1_when_connect_is_unreachable(
    context_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("connect_operator.cli.reconcile", reconcile_waiting_on(clock))
    result = invoke(
        ["run", "--binding-context", str(context_file)],
        {"CONNECT_URL": "http://127.0.0.1:9", "CONNECT_OPERATOR_RUN_DEADLINE": "5"},
    )
    assert result.exit_code == 1
    assert "cannot list connectors" in result.output
    assert clock.sleeps == pytest.approx([0.2, 0.4])  # three connection attempts first


def test_render_masks_values_from_variables(context_file: Path, env: dict[str, str]) -> None:
    result = invoke(["render", "--binding-context", str(context_file)], env)
    assert result.exit_code == 0
    rendered = {c["name"]: c for c in json.loads(result.output)}
    config = rendered["orders-source"]["config"]
    assert config["value.converter.basic.auth.user.info"] == "****"
    assert config["topic"] == "orders" and config["tasks.max"] == "1"
    for canary in CANARIES:
        assert canary not in result.output


def test_render_shows_secrets_only_when_asked(context_file: Path, env: dict[str, str]) -> None:
    result = invoke(["render", "--binding-context", str(context_file), "--show-secrets"], env)
    assert "CANARY-SR-USER:CANARY-SR-PASS=x=y" in result.output


def test_render_names_the_configmap_and_key_of_a_broken_connector(
    tmp_path: Path, env: dict[str, str]
) -> None:
    store = ObjectStore()
    store.load_manifests([DATA / "configmaps" / "broken.yaml"])
    path = tmp_path / "bc.json"
    path.write_text(json.dumps(group_contexts(binding_configuration(Settings()), store)))
    result = CliRunner().invoke(cli, ["render", "--binding-context", str(path)], env=env)
    assert result.exit_code == 1
    assert "ConfigMap default/broken key broken.json" in result.output


def test_a_bad_setting_is_a_clear_cli_error(context_file: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["run", "--binding-context", str(context_file)],
        env={"CONNECT_OPERATOR_MAX_DELETES": "many"},
    )
    assert result.exit_code == 1
    assert "CONNECT_OPERATOR_MAX_DELETES must be an integer" in result.output


def test_status_prints_a_table(env: dict[str, str], fake_connect: FakeConnect) -> None:
    fake_connect.connectors["a"] = {"connector.class": "FileStreamSink", "name": "a"}
    result = invoke(["status"], env)
    assert result.exit_code == 0
    assert result.output.splitlines()[1].split() == ["a", "source", "RUNNING", "0:RUNNING"]


def test_settings_never_prints_a_secret() -> None:
    result = CliRunner().invoke(cli, ["settings"], env={"CONNECT_REST_SECRET": "CANARY-CC-SECRET"})
    assert "CONNECT_REST_SECRET=set" in result.output
    assert "CANARY-CC-SECRET" not in result.output


def test_config_prints_the_binding_configuration() -> None:
    result = CliRunner().invoke(cli, ["config"], env={"WATCH_NAMESPACES": "a,b"})
    config = json.loads(result.output)
    assert config["kubernetes"][0]["namespace"]["nameSelector"]["matchNames"] == ["a", "b"]
