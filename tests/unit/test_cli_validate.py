"""`connect-operator render --validate`: the apply-time validation against the target, with
nothing written."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connect_operator.binding import binding_configuration
from connect_operator.cli import cli
from connect_operator.settings import Settings
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ObjectStore, group_contexts
from tests.unit.conftest import DATA, connector_json
from tests.unit.test_restarts import configmap


def test_render_validate_reports_each_field_with_values_masked_and_writes_nothing(
    tmp_path: Path, fake_connect: FakeConnect
) -> None:
    store = ObjectStore()
    store.put(
        configmap(
            "sinks",
            {
                "good.json": connector_json("good"),
                "bad.json": connector_json("bad", **{"tasks.max": "lots-of-them"}),
            },
        )
    )
    path = tmp_path / "bc.json"
    path.write_text(json.dumps(group_contexts(binding_configuration(Settings()), store)))
    env = {"CONNECT_URL": fake_connect.url, "CONNECT_OPERATOR_CONFIG_DIR": str(DATA / "variables")}
    result = CliRunner().invoke(
        cli, ["render", "--binding-context", str(path), "--validate"], env=env
    )
    assert result.exit_code == 1
    documents = {d["name"]: d for d in json.loads(result.output)}
    assert documents["good"]["validation"] == {"valid": True}
    assert documents["bad"]["validation"] == {
        "valid": False,
        "errors": [
            {
                "field": "tasks.max",
                "message": "Invalid value **** for configuration tasks.max:"
                " Not a number of type INT",
            }
        ],
    }
    assert fake_connect.writes() == []
    assert fake_connect.connectors == {}


def test_render_without_validate_asks_connect_nothing(
    tmp_path: Path, fake_connect: FakeConnect
) -> None:
    store = ObjectStore()
    store.put(configmap("sinks", {"good.json": connector_json("good")}))
    path = tmp_path / "bc.json"
    path.write_text(json.dumps(group_contexts(binding_configuration(Settings()), store)))
    env = {"CONNECT_URL": fake_connect.url, "CONNECT_OPERATOR_CONFIG_DIR": str(DATA / "variables")}
    result = CliRunner().invoke(cli, ["render", "--binding-context", str(path)], env=env)
    assert result.exit_code == 0
    assert "validation" not in result.output
    assert fake_connect.requests == []
