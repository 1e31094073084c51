"""`connect-operator status --binding-context`: target, declared and live state, tasks, restart
attempts and the last error (redacted) of every declared connector; nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from connect_operator.binding import binding_configuration
from connect_operator.cli import cli
from connect_operator.settings import Settings
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import group_contexts
from tests.unit.conftest import connector_json
from tests.unit.test_restarts import Harness, configmap

SECRET = "CANARY-SECRET-9b2c=="


def test_status_shows_declared_and_live_state_tasks_restarts_and_the_last_error(
    fake_connect: FakeConnect, base_env: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **base_env,
        "CONNECT_URL": fake_connect.url,
        "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS": "3",
    }
    harness = Harness(fake_connect, env)
    paused = json.loads(connector_json("quiet"))
    paused["state"] = "paused"
    harness.store.put(
        configmap(
            "sinks",
            {
                "sink.json": connector_json("sink"),
                "quiet.json": json.dumps(paused),
                "bad.json": connector_json("bad", **{"tasks.max": "x"}),
                "broken.json": "{",
            },
        )
    )
    harness.run()
    fake_connect.failed_connectors["sink"] = f"java.io.IOException: cannot open {SECRET}\n\tat X"
    harness.run()  # restart attempt 1
    path = tmp_path / "bc.json"
    path.write_text(json.dumps(group_contexts(binding_configuration(Settings()), harness.store)))
    fake_connect.requests.clear()

    result = CliRunner().invoke(cli, ["status", "--binding-context", str(path)], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "TARGET", "CONNECTOR", "CONFIGMAP", "DECLARED", "LIVE", "TASKS", "RESTARTS", "LAST", "ERROR"
    ]  # fmt: skip
    rows = {line.split()[1]: line for line in lines[1:]}
    assert rows["sink"].split()[:7] == [
        "self-managed", "sink", "default/sinks", "[sink.json]", "running", "FAILED", "0:RUNNING"
    ]  # fmt: skip
    assert "1/3" in rows["sink"]
    assert rows["sink"].endswith("the connector FAILED: java.io.IOException: cannot open ****")
    assert rows["quiet"].split()[4:6] == ["paused", "PAUSED"]
    assert rows["bad"].split()[5] == "MISSING"
    assert "config rejected 1 times" in rows["bad"]
    assert "default/sinks [broken.json]" in rows["-"]
    assert SECRET not in result.output
    assert fake_connect.writes() == []
