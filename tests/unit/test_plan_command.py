"""`connect-operator plan` against the stateful fake Connect: every action kind, masking, the
three formats, exit codes, nothing written, and the plan matching what the hook then does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from connect_operator.cli import cli
from tests.support.fake_clock import FakeClock, reconcile_waiting_on
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ShellOperator
from tests.unit.conftest import CANARIES, DATA

SINK = "FileStreamSink"


def configmap(name: str, data: dict[str, Any], enabled: str = "true", **labels: str) -> str:
    """A connector ConfigMap manifest; each data value a connector (dict) or a raw program."""
    document = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {"destination": "connect", "enabled": enabled, **labels},
        },
        "data": {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in data.items()
        },
    }
    return yaml.safe_dump(document, sort_keys=False)


def sink(name: str, **config: str) -> dict[str, Any]:
    return {"name": name, "config": {"connector.class": SINK, "topics": "t", **config}}


# The password comes from the template environment (a secret); so does the sasl key's value.
CHANGED = (
    '{"name": "changed", "config": {"connector.class": "FileStreamSink", "topics": "new",'
    ' "connection.password": env.DB_PASSWORD}}'
)


@pytest.fixture
def manifests(tmp_path: Path) -> Path:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "app.yaml").write_text(
        configmap(
            "plan-demo",
            {"new.json": sink("new"), "changed.json": CHANGED, "same.json": sink("same")},
        )
        + "---\n"
        + configmap("retired", {"gone.json": sink("gone")}, enabled="false")
    )
    (folder / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\n"
    )
    return folder


@pytest.fixture
def live(fake_connect: FakeConnect) -> FakeConnect:
    """Connect as it is before the merge: one to update, one unchanged, one to delete, one
    nobody declares."""
    fake_connect.connectors.update(
        {
            "changed": {
                "connector.class": SINK,
                "topics": "old",
                "connection.password": "previous-password-OLD",
                "name": "changed",
            },
            "same": {"connector.class": SINK, "topics": "t", "name": "same"},
            "gone": {"connector.class": SINK, "topics": "t", "name": "gone"},
            "foreign": {"connector.class": SINK, "topics": "x", "name": "foreign"},
        }
    )
    return fake_connect


@pytest.fixture
def env(fake_connect: FakeConnect, base_env: dict[str, str]) -> dict[str, str]:
    return {
        **base_env,
        "CONNECT_URL": fake_connect.url,
        "POD_NAMESPACE": "default",
        "WATCH_NAMESPACES": "default",
    }


def plan(env: dict[str, str], *args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(cli, ["plan", *args], env=env, input=stdin, catch_exceptions=False)


def plan_json(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = plan(env, *args, "--output", "json")
    assert result.exit_code in (0, 2), result.output
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def actions(document: dict[str, Any]) -> dict[str, str]:
    return {c["connector"]: c["action"] for c in document["connectors"] if c["connector"]}


def test_plan_shows_create_update_delete_unchanged_and_not_declared_lines(
    live: FakeConnect, manifests: Path, env: dict[str, str]
) -> None:
    result = plan(env, "-f", str(manifests))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "+ create       new on self-managed  (ConfigMap default/plan-demo key new.json)" in lines
    assert (
        "~ update       changed on self-managed  (ConfigMap default/plan-demo key changed.json)"
        in lines
    )
    assert '      topics: "old" -> "new"' in lines
    assert '      connection.password: "****" -> "****"' in lines
    assert any(
        line.startswith("- delete       gone on self-managed  (label enabled") for line in lines
    )
    assert (
        "  unchanged    same on self-managed  (ConfigMap default/plan-demo key same.json)" in lines
    )
    assert any(
        line.startswith("? not-declared foreign on self-managed  (nothing declares it")
        for line in lines
    )
    assert lines[-1] == (
        "Plan: 1 to create, 1 to update, 1 to delete, 1 unchanged,"
        " 1 not declared (pruned if owned)."
    )


def test_plan_reads_each_target_once_and_writes_nothing(
    live: FakeConnect, manifests: Path, env: dict[str, str]
) -> None:
    before = json.dumps(live.connectors, sort_keys=True)
    live.requests.clear()
    result = plan(env, "-f", str(manifests), "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert live.writes() == []
    assert [(r.method, r.path) for r in live.requests] == [("GET", "/connectors")]
    assert json.dumps(live.connectors, sort_keys=True) == before


def test_secrets_are_masked_in_every_format_unless_show_secrets(
    live: FakeConnect, manifests: Path, env: dict[str, str]
) -> None:
    for output in ("text", "json", "markdown"):
        result = plan(env, "-f", str(manifests), "--output", output)
        for canary in (*CANARIES, "previous-password-OLD"):
            assert canary not in result.stdout and canary not in result.stderr, (output, canary)
    shown = plan(env, "-f", str(manifests), "--show-secrets").stdout
    assert '      connection.password: "previous-password-OLD" -> "CANARY-ENV-DB-PASSWORD"' in shown


def test_json_output_follows_the_documented_schema(
    live: FakeConnect, manifests: Path, env: dict[str, str]
) -> None:
    document = plan_json(env, "-f", str(manifests))
    assert set(document) == {
        "format_version",
        "mode",
        "ledger",
        "changes",
        "errors",
        "notes",
        "summary",
        "targets",
        "connectors",
    }
    assert document["format_version"] == 1 and document["mode"] == "online"
    assert document["changes"] is True and document["ledger"] is False
    assert document["summary"]["create"] == 1 and document["summary"]["not-declared"] == 1
    assert document["targets"] == [
        {"id": "self-managed", "url": live.url, "requests": 1, "error": None}
    ]
    assert actions(document) == {
        "new": "create",
        "changed": "update",
        "gone": "delete",
        "same": "unchanged",
        "foreign": "not-declared",
    }
    update = next(c for c in document["connectors"] if c["action"] == "update")
    assert update["configmap"] == "default/plan-demo" and update["key"] == "changed.json"
    assert update["changes"] == [
        {"key": "connection.password", "old": "****", "new": "****", "secret": True},
        {"key": "topics", "old": "old", "new": "new", "secret": False},
    ]
    create = next(c for c in document["connectors"] if c["action"] == "create")
    assert create["config"] == {"connector.class": SINK, "topics": "t"}


def test_markdown_output_is_a_table_for_a_pull_request_comment(
    live: FakeConnect, manifests: Path, env: dict[str, str]
) -> None:
    text = plan(env, "-f", str(manifests), "--output", "markdown").stdout
    lines = text.splitlines()
    assert lines[0] == "### connect-operator plan"
    assert "| action | connector | target | declared in | details |" in lines
    assert (
        "| **update** | `changed` | self-managed | `default/plan-demo` key `changed.json` |"
        " `connection.password`: `****` → `****`<br>`topics`: `old` → `new` |"
    ) in lines
    assert "<details><summary>1 unchanged</summary>" in lines


def test_an_invalid_key_names_its_configmap_key_and_reason_and_exits_1(
    live: FakeConnect, env: dict[str, str]
) -> None:
    result = plan(env, "-f", str(DATA / "configmaps" / "broken.yaml"))
    assert result.exit_code == 1
    assert "! invalid      ConfigMap default/broken key broken.json: " in result.stdout
    assert "NO_SUCH_VARIABLE" in result.stdout
    assert result.stdout.splitlines()[-1].endswith("1 invalid.")


@pytest.mark.parametrize(
    ("detailed", "with_changes", "code"),
    [(False, False, 0), (True, False, 0), (False, True, 0), (True, True, 2)],
)
def test_exit_codes_follow_terraforms_detailed_exitcode(
    fake_connect: FakeConnect,
    env: dict[str, str],
    tmp_path: Path,
    detailed: bool,
    with_changes: bool,
    code: int,
) -> None:
    fake_connect.connectors["same"] = {"connector.class": SINK, "topics": "t", "name": "same"}
    data: dict[str, Any] = {"same.json": sink("same")}
    if with_changes:
        data["new.json"] = sink("new")
    path = tmp_path / "cm.yaml"
    path.write_text(configmap("cm", data))
    args = ["-f", str(path)] + (["--detailed-exitcode"] if detailed else [])
    assert plan(env, *args).exit_code == code


def test_stdin_is_read_with_dash_f_dash(fake_connect: FakeConnect, env: dict[str, str]) -> None:
    result = plan(env, "-f", "-", stdin=configmap("cm", {"a.json": sink("from-stdin")}))
    assert "+ create       from-stdin on self-managed" in result.stdout


def test_an_unreachable_target_is_an_error_saying_what_to_check(
    env: dict[str, str], manifests: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock()
    monkeypatch.setattr("connect_operator.plan_run.reconcile", reconcile_waiting_on(clock))
    result = plan(
        {**env, "CONNECT_URL": "http://127.0.0.1:9", "CONNECT_OPERATOR_CONNECT_TIMEOUT": "0.5"},
        "-f",
        str(manifests),
        "--detailed-exitcode",
    )
    assert result.exit_code == 1
    assert "error: target self-managed: cannot list connectors" in result.stdout
    assert "is http://127.0.0.1:9 reachable from here? check CONNECT_URL" in result.stdout
    assert "retried within a minute" not in result.stdout
    assert clock.sleeps == pytest.approx([0.2, 0.4])  # three connection attempts first


def test_bad_yaml_is_an_error_with_the_file_and_line(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(configmap("ok", {"a.json": sink("a")}) + "---\nmetadata:\n  name: [oops\n")
    result = plan(env, "-f", str(path))
    assert result.exit_code == 1
    assert f"error: {path}:" in result.stderr and "not valid YAML" in result.stderr


def test_a_usage_error_exits_1_because_2_means_changes(env: dict[str, str]) -> None:
    assert plan(env).exit_code == 1
    assert plan(env, "-f", "-", "--output", "yaml").exit_code == 1


def test_missing_confluent_cloud_credentials_say_which_variables_to_set(
    fake_connect: FakeConnect, env: dict[str, str], tmp_path: Path
) -> None:
    cluster = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cc\n"
        "  labels: {environment_id: env-1, resource_id: lkc-1}\n"
    )
    path = tmp_path / "cc.yaml"
    path.write_text(
        cluster + "---\n" + configmap("m", {"m.json": sink("m")}, **{"destination.cc": "cc"})
    )
    result = plan(env, "-f", str(path))
    assert result.exit_code == 1
    assert "! invalid      ConfigMap default/m key m.json: " in result.stdout
    assert "CONNECT_REST_KEY and CONNECT_REST_SECRET" in result.stdout


def test_offline_reads_no_target_and_reports_what_renders_and_what_does_not(
    fake_connect: FakeConnect, env: dict[str, str], manifests: Path
) -> None:
    (manifests / "broken.yaml").write_text((DATA / "configmaps" / "broken.yaml").read_text())
    result = plan({**env, "CONNECT_URL": "http://127.0.0.1:9"}, "-f", str(manifests), "--offline")
    assert result.exit_code == 1
    assert fake_connect.requests == []
    lines = result.stdout.splitlines()
    assert any(line.startswith("* declared     new on self-managed") for line in lines)
    assert any(
        line.startswith("! invalid      ConfigMap default/broken key broken.json") for line in lines
    )
    assert lines[-1] == "Offline: 4 connectors render, 1 invalid."


def test_offline_resolves_confluent_cloud_targets_without_credentials(
    fake_connect: FakeConnect, env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "cc.yaml"
    path.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cc\n"
        "  labels: {environment_id: env-1, resource_id: lkc-1}\n---\n"
        + configmap("m", {"m.json": sink("m")}, **{"destination.cc": "cc"})
    )
    result = plan(env, "-f", str(path), "--offline", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "* declared     m on confluent-cloud/env-1/lkc-1" in result.stdout


def test_validate_turns_a_config_connect_refuses_into_an_invalid_line_and_writes_nothing(
    fake_connect: FakeConnect, env: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "cm.yaml"
    path.write_text(
        configmap("cm", {"ok.json": sink("ok"), "bad.json": sink("bad", **{"tasks.max": "many"})})
    )
    result = plan(env, "-f", str(path), "--validate")
    assert result.exit_code == 1
    assert "+ create       ok on self-managed" in result.stdout
    assert (
        "! invalid      ConfigMap default/cm key bad.json: Connect's validation found 1 errors:"
        " tasks.max: Invalid value many for configuration tasks.max: Not a number of type INT"
    ) in result.stdout
    validations = [r.path for r in fake_connect.requests if r.method == "PUT"]
    assert validations == [f"/connector-plugins/{SINK}/config/validate"] * 2
    assert fake_connect.connectors == {}


def _ledger_file(operator: ShellOperator, path: Path) -> Path:
    """The ledger's ConfigMaps as `kubectl get cm -o yaml` prints several: a List."""
    items = [
        obj
        for (kind, _, name), obj in sorted(operator.store.objects.items())
        if kind == "ConfigMap" and name.startswith("connect-operator-ledger")
    ]
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items}))
    return path


def _hook_actions(run_lines: list[dict[str, Any]]) -> dict[str, str]:
    verbs = {"created": "create", "updated": "update", "deleted": "delete"}
    return {
        line["connector"]: verbs[line["action"]]
        for line in run_lines
        if line.get("connector") and line.get("action") in verbs
    }


def test_what_the_plan_says_is_what_the_hook_then_does(
    live: FakeConnect, manifests: Path, env: dict[str, str], operator: ShellOperator, tmp_path: Path
) -> None:
    planned = plan_json(env, "-f", str(manifests))
    operator.store.load_manifests(sorted(manifests.glob("*.yaml")))
    run = operator.run()
    assert run.returncode == 0, run.stderr
    done = _hook_actions(run.log_lines())
    changes = {k: v for k, v in actions(planned).items() if v in ("create", "update", "delete")}
    assert done == changes == {"new": "create", "changed": "update", "gone": "delete"}

    # After the merge the plan is empty, and with the ledger it knows `foreign` is not ours.
    ledger = _ledger_file(operator, tmp_path / "ledger.yaml")
    after = plan(env, "-f", str(manifests), "--ledger", str(ledger), "--detailed-exitcode")
    assert after.exit_code == 0, after.output
    assert (
        after.stdout.splitlines()[-1] == "Plan: 0 to create, 0 to update, 0 to delete, 3 unchanged."
    )

    # The next pull request removes a key and changes another: with the ledger, the plan shows
    # the prune, and the hook does exactly that.
    (manifests / "app.yaml").write_text(
        configmap(
            "plan-demo",
            {"changed.json": CHANGED.replace('"new"', '"newer"'), "same.json": sink("same")},
        )
    )
    planned = plan_json(env, "-f", str(manifests), "--ledger", str(ledger))
    for key in [k for k in operator.store.objects if k[2] in ("plan-demo", "retired")]:
        del operator.store.objects[key]
    operator.store.load_manifests([manifests / "app.yaml"])
    run = operator.run()
    assert run.returncode == 0, run.stderr
    changes = {k: v for k, v in actions(planned).items() if v in ("create", "update", "delete")}
    assert _hook_actions(run.log_lines()) == changes == {"new": "delete", "changed": "update"}
    assert "foreign" in live.connectors


def test_a_key_only_the_live_config_has_shows_as_removed(
    fake_connect: FakeConnect, env: dict[str, str], tmp_path: Path
) -> None:
    fake_connect.connectors["c"] = {
        "connector.class": SINK,
        "topics": "t",
        "errors.tolerance": "all",
        "name": "c",
    }
    path = tmp_path / "cm.yaml"
    path.write_text(configmap("cm", {"c.json": sink("c")}))
    result = plan(env, "-f", str(path))
    assert '      errors.tolerance: "all" -> (absent)' in result.stdout.splitlines()


def test_deletes_beyond_the_limit_are_refused_lines_and_an_error(
    fake_connect: FakeConnect, env: dict[str, str], tmp_path: Path
) -> None:
    fake_connect.connectors["old"] = {"connector.class": SINK, "topics": "t", "name": "old"}
    path = tmp_path / "cm.yaml"
    path.write_text(configmap("cm", {"old.json": sink("old")}, enabled="false"))
    result = plan({**env, "CONNECT_OPERATOR_MAX_DELETES": "0"}, "-f", str(path))
    assert result.exit_code == 1
    assert "! refused      old on self-managed  (1 deletes on self-managed exceed" in result.stdout
    assert "delete       old" not in result.stdout


def test_with_the_ledger_an_owned_undeclared_connector_is_pruned_unless_someone_replaced_it(
    fake_connect: FakeConnect, env: dict[str, str], tmp_path: Path
) -> None:
    from connect_operator.ledger import LedgerEntry, encode_entry

    entries = [
        LedgerEntry("self-managed", name, "default/old-cm", f"{name}.json", "h", SINK)
        for name in ("ours", "swapped")
    ]
    fake_connect.connectors["ours"] = {"connector.class": SINK, "topics": "t", "name": "ours"}
    fake_connect.connectors["swapped"] = {
        "connector.class": "FileStreamSource",
        "topic": "t",
        "name": "swapped",
    }
    fake_connect.connectors["foreign"] = {"connector.class": SINK, "topics": "x", "name": "foreign"}
    ledger = tmp_path / "ledger.yaml"
    ledger.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "connect-operator-ledger", "namespace": "default"},
                "data": {e.data_key: encode_entry(e) for e in entries},
            }
        )
    )
    path = tmp_path / "cm.yaml"
    path.write_text(configmap("cm", {"kept.json": sink("kept")}))
    result = plan(env, "-f", str(path), "--ledger", str(ledger), "--output", "json")
    assert result.exit_code == 1  # the hook reports a replaced connector as failed
    document = json.loads(result.stdout)
    assert actions(document) == {"kept": "create", "ours": "delete", "swapped": "replaced"}
    assert document["ledger"] is True
    replaced = next(c for c in document["connectors"] if c["action"] == "replaced")
    assert "its class is now 'FileStreamSource'" in replaced["reason"]
    assert fake_connect.writes() == []


def test_a_declared_state_that_differs_is_a_state_line_and_the_hook_makes_only_that_call(
    fake_connect: FakeConnect, env: dict[str, str], operator: ShellOperator, tmp_path: Path
) -> None:
    fake_connect.connectors["p"] = {"connector.class": SINK, "topics": "t", "name": "p"}
    paused = {**sink("p"), "state": "paused"}
    path = tmp_path / "cm.yaml"
    path.write_text(configmap("cm", {"p.json": paused, "q.json": {**sink("q"), "state": "paused"}}))
    result = plan(env, "-f", str(path), "--detailed-exitcode")
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert "~ state        p on self-managed  (ConfigMap default/cm key p.json)" in lines
    assert "      state: RUNNING -> paused (pause)" in lines
    assert "      state: (absent) -> paused (pause)" in lines  # q: created, then paused
    assert (
        lines[-1] == "Plan: 1 to create, 0 to update, 0 to delete, 1 to change state, 0 unchanged."
    )
    document = plan_json(env, "-f", str(path))
    assert next(c for c in document["connectors"] if c["connector"] == "p")["state"] == {
        "live": "RUNNING",
        "declared": "paused",
        "call": "pause",
    }
    markdown = plan(env, "-f", str(path), "--output", "markdown").stdout
    assert (
        "| **state** | `p` | self-managed | `default/cm` key `p.json`"
        " | state: `RUNNING` → `paused` (pause) |"
    ) in markdown

    operator.store.load_manifests([path])
    assert operator.run().returncode == 0
    writes = sorted((r.method, r.path) for r in fake_connect.writes())
    # p's state changed without a config PUT; q was created directly paused (KIP-980)
    assert writes == [("POST", "/connectors"), ("PUT", "/connectors/p/pause")]
    assert fake_connect.states == {"p": "PAUSED", "q": "PAUSED"}
    after = plan(env, "-f", str(path), "--detailed-exitcode")
    assert after.exit_code == 0, after.output


def test_a_config_connect_rejected_and_the_hook_holds_back_is_invalid_in_the_plan(
    fake_connect: FakeConnect, env: dict[str, str], operator: ShellOperator, tmp_path: Path
) -> None:
    path = tmp_path / "cm.yaml"
    missing = {"name": "nope", "config": {"connector.class": "com.example.Missing"}}
    path.write_text(configmap("cm", {"nope.json": missing}))
    operator.store.load_manifests([path])
    assert operator.run().returncode == 0
    assert "nope" not in fake_connect.connectors
    ledger = _ledger_file(operator, tmp_path / "ledger.yaml")

    without_ledger = plan(env, "-f", str(path))
    assert "+ create       nope on self-managed" in without_ledger.stdout
    result = plan(env, "-f", str(path), "--ledger", str(ledger))
    assert result.exit_code == 1
    line = next(x for x in result.stdout.splitlines() if "nope.json" in x)
    assert line.startswith("! invalid      ConfigMap default/cm key nope.json: Connect rejected")
    assert line.endswith("; would create")

    fake_connect.requests.clear()
    assert operator.run().returncode == 0
    assert [r for r in fake_connect.requests if r.method == "PUT"] == []  # held back, as planned
