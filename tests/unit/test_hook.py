"""The hook's whole run as shell-operator drives it: in process through the harness
(`ShellOperator(in_process=True)`, on a fake clock, and `--config` through `hook.main`), plus a
smoke test that starts the real executable (a binding context it cannot read: exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import (
    HOOK,
    ShellOperator,
    discover_hooks,
    group_contexts,
    hook_config_in_process,
)
from tests.unit.conftest import CANARIES, DATA, connector_json


def _load(operator: ShellOperator, *names: str) -> None:
    operator.store.load_manifests(DATA / "configmaps" / name for name in names)


def _assert_no_canary(operator: ShellOperator) -> None:
    for run in operator.runs:
        for text in (run.stdout, run.stderr, run.patch, run.metrics):
            for canary in CANARIES:
                assert canary not in text
        assert run.files_left == []
    stored = json.dumps(list(operator.store.objects.values()))
    ledger = operator.ledger()
    if ledger is not None:
        for canary in CANARIES:
            assert canary not in json.dumps(ledger)
    assert stored  # the store holds the ConfigMaps' templates, which carry no values


def test_hooks_directory_holds_exactly_one_executable_hook() -> None:
    assert discover_hooks(HOOK.parent) == [HOOK.resolve()]


def test_config_is_a_valid_grouped_v1_configuration(base_env: dict[str, str]) -> None:
    config = hook_config_in_process(base_env)
    groups = {b.get("group") for b in config["kubernetes"]} | {
        s.get("group") for s in config["schedule"]
    }
    assert groups == {"connectors"}
    connectors = config["kubernetes"][0]
    assert connectors["labelSelector"] == {"matchLabels": {"destination": "connect"}}
    assert connectors["namespace"] == {"nameSelector": {"matchNames": ["default"]}}
    assert config["schedule"][0]["crontab"] == "*/5 * * * *"


def test_config_follows_the_watch_and_selector_settings(base_env: dict[str, str]) -> None:
    env = {
        **base_env,
        "WATCH_NAMESPACES": "*",
        "CONNECTOR_LABEL_SELECTOR": "destination=connect,tier in (gold,silver)",
        "RESYNC_SCHEDULE": "*/2 * * * *",
    }
    config = hook_config_in_process(env)
    connectors = config["kubernetes"][0]
    assert "namespace" not in connectors
    assert connectors["labelSelector"]["matchExpressions"] == [
        {"key": "tier", "operator": "In", "values": ["gold", "silver"]}
    ]
    assert config["schedule"][0]["crontab"] == "*/2 * * * *"


def test_config_with_a_bad_setting_fails_with_the_variable_named(
    base_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from connect_operator import hook

    assert hook.main(["--config"], {**base_env, "CONNECT_URL": "not-a-url"}) == 2
    printed = capsys.readouterr()
    assert "CONNECT_URL" in printed.err
    assert printed.out == ""


def test_rendered_values_reach_connect_and_secrets_never_leak(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    _load(operator, "orders-source.yaml", "sinks-multi.yaml")
    run = operator.run()
    assert run.returncode == 0, run.stdout + run.stderr
    assert sorted(fake_connect.connectors) == ["audit-sink", "orders-sink", "orders-source"]
    source = fake_connect.connectors["orders-source"]
    assert source["tasks.max"] == "1"
    assert source["value.converter.schema.registry.url"] == "https://sr.canary.example:8081"
    assert source["value.converter.basic.auth.user.info"] == "CANARY-SR-USER:CANARY-SR-PASS=x=y"
    assert (
        'username="CANARY-KEY-7f3a" password="CANARY-SECRET-9b2c=="'
        in (source["producer.override.sasl.jaas.config"])
    )
    assert fake_connect.connectors["orders-sink"]["tasks.max"] == "2"
    _assert_no_canary(operator)


def test_an_unchanged_state_makes_no_write_and_one_get(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    _load(operator, "orders-source.yaml", "sinks-multi.yaml")
    assert operator.run().returncode == 0
    fake_connect.requests.clear()
    second = operator.run(trigger="Schedule")
    assert second.returncode == 0
    assert fake_connect.writes() == []
    assert [(r.method, r.path) for r in fake_connect.requests] == [("GET", "/connectors")]
    assert second.patch == ""  # the ledger did not change, so nothing is patched


def test_deleted_configmap_deletes_its_connectors_but_not_foreign_ones(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    fake_connect.connectors["foreign"] = {"connector.class": "FileStreamSink", "name": "foreign"}
    _load(operator, "sinks-multi.yaml", "orders-source.yaml")
    assert operator.run().returncode == 0
    operator.delete_configmap("sinks")
    run = operator.run()
    assert run.returncode == 0
    assert sorted(fake_connect.connectors) == ["foreign", "orders-source"]
    entries = operator.ledger()["entries"]
    assert [e["connector"] for e in entries] == ["orders-source"]


def test_removed_key_and_renamed_connector_are_pruned(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("multi", {"a.json": connector_json("a"), "b.json": connector_json("b")})
    assert operator.run().returncode == 0
    operator.put_configmap("multi", {"a.json": connector_json("a-renamed")})
    assert operator.run().returncode == 0
    assert sorted(fake_connect.connectors) == ["a-renamed"]


def test_enabled_false_deletes_even_an_unowned_connector(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    fake_connect.connectors["legacy"] = {"connector.class": "FileStreamSink", "name": "legacy"}
    operator.put_configmap(
        "legacy",
        {"legacy.json": connector_json("legacy")},
        {"destination": "connect", "enabled": "false"},
    )
    assert operator.run().returncode == 0
    assert fake_connect.connectors == {}


def test_a_broken_configmap_beside_good_ones_is_reported_and_the_rest_reconciled(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    _load(operator, "broken.yaml", "sinks-multi.yaml")
    run = operator.run()
    assert run.returncode == 0
    assert sorted(fake_connect.connectors) == ["audit-sink", "orders-sink"]
    errors = [line for line in run.log_lines() if line["level"] == "error"]
    assert any(
        line.get("configmap") == "default/broken"
        and line.get("key") == "broken.json"
        and "NO_SUCH_VARIABLE" in line["msg"]
        for line in errors
    )


def test_a_configmap_that_breaks_later_keeps_its_connector(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("fragile", {"f.json": connector_json("fragile")})
    assert operator.run().returncode == 0
    operator.put_configmap("fragile", {"f.json": '{"name": "fragile", "config": '})
    assert operator.run().returncode == 0
    assert "fragile" in fake_connect.connectors


def test_connect_rejection_is_scoped_to_its_connector(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap(
        "bad-class", {"x.json": connector_json("x", **{"connector.class": "com.example.Nope"})}
    )
    operator.put_configmap("good", {"g.json": connector_json("g")})
    run = operator.run()
    assert run.returncode == 0
    assert list(fake_connect.connectors) == ["g"]
    failed = [line for line in run.log_lines() if line.get("action") == "failed"]
    assert failed and failed[0]["configmap"] == "default/bad-class" and failed[0]["key"] == "x.json"
    assert "Failed to find any class" in failed[0]["msg"]


def test_rebalance_conflicts_are_retried_within_the_run(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    fake_connect.fail_next(
        "PUT",
        "/connectors/",
        (409, "Cannot complete request momentarily due to no known leader URL"),
        (500, "Request cannot be completed because a rebalance is expected"),
    )
    operator.put_configmap("c", {"c.json": connector_json("c")})
    assert operator.run().returncode == 0
    assert "c" in fake_connect.connectors


def test_unreachable_connect_is_reported_in_served_metrics_and_retried_soon(
    base_env: dict[str, str], closed_port: int
) -> None:
    operator = ShellOperator(
        env={**base_env, "CONNECT_URL": f"http://127.0.0.1:{closed_port}"}, in_process=True
    )
    operator.put_configmap("c", {"c.json": connector_json("c")})
    run = operator.run()
    # Exit 0, or shell-operator would throw away the metrics that show the outage.
    assert run.returncode == 0
    # Three connection attempts, with the back-off in between, not the whole run deadline.
    assert operator.clock.sleeps == pytest.approx([0.2, 0.4])
    assert operator.metric("connect_operator_target_up", target="self-managed") == 0
    kind = {"target": "self-managed", "kind": "temporary"}
    assert operator.metric("connect_operator_target_failed", **kind) == 1
    assert _status(operator)["retry"] == ["self-managed"]
    assert any("retried within a minute" in line["msg"] for line in run.log_lines())


def test_a_connect_that_keeps_failing_is_retried_by_the_next_retry_tick(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    # Every one of the ten tries fails, and the deadline (60 s) is longer than their back-off
    # (26.2 s): the retries end the first run, not the deadline.
    operator.env["CONNECT_OPERATOR_RUN_DEADLINE"] = "60"
    fake_connect.fail_next("GET", "/connectors", *[(503, "unavailable")] * 10)
    operator.put_configmap("c", {"c.json": connector_json("c")})
    first = operator.run()
    assert first.returncode == 0 and fake_connect.connectors == {}
    assert len(fake_connect.requests) == 10
    assert first.seconds == pytest.approx(26.2)
    assert operator.metric("connect_operator_target_up", target="self-managed") == 0
    assert fake_connect.failures[("GET", "/connectors")] == []
    second = operator.run_with(_retry_tick(operator))
    assert second.returncode == 0 and "c" in fake_connect.connectors
    assert operator.metric("connect_operator_target_up", target="self-managed") == 1
    assert _status(operator)["retry"] == []


def test_a_retry_tick_with_nothing_to_retry_and_nothing_changed_sends_no_request(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("c", {"c.json": connector_json("c")})
    assert operator.run().returncode == 0
    fake_connect.requests.clear()
    tick = operator.run_with(_retry_tick(operator))
    assert tick.returncode == 0 and fake_connect.requests == []
    assert tick.patch == "" and tick.metrics == ""
    # An event folded into a tick (shell-operator keeps only a group's last context) still
    # reconciles, because the ConfigMaps changed since the last run.
    operator.put_configmap("d", {"d.json": connector_json("d")})
    assert operator.run_with(_retry_tick(operator)).returncode == 0
    assert "d" in fake_connect.connectors


def _retry_tick(operator: ShellOperator) -> list[dict[str, object]]:
    (context,) = group_contexts(operator.config(), operator.store)
    return [{**context, "binding": "retry"}]


def _status(operator: ShellOperator) -> dict[str, object]:
    ledger = operator.store.get("ConfigMap", "default", "connect-operator-ledger")
    assert ledger is not None
    return dict(json.loads(ledger["data"]["status.json"]))


def test_the_ledger_holds_names_and_hashes_only(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    _load(operator, "orders-source.yaml")
    assert operator.run().returncode == 0
    (entry,) = operator.ledger()["entries"]
    assert set(entry) == {
        "target",
        "connector",
        "configmap",
        "key",
        "hash",
        "connector_class",
        "inputs",
    }
    assert entry["hash"].startswith("sha256:") and entry["inputs"].startswith("sha256:")
    assert entry["configmap"] == "default/orders-source"
    assert entry["connector_class"] == "FileStreamSource"


def test_a_mass_deletion_is_refused_and_reported(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_MAX_DELETES"] = "2"
    for index in range(4):
        operator.put_configmap(f"c{index}", {"c.json": connector_json(f"c{index}")})
    assert operator.run().returncode == 0
    for index in range(4):
        operator.delete_configmap(f"c{index}")
    run = operator.run()
    assert run.returncode == 0
    assert len(fake_connect.connectors) == 4
    assert any("refusing to delete 4" in line["msg"] for line in run.log_lines())
    assert len(operator.ledger()["entries"]) == 4


def test_malformed_binding_context_exits_2_with_a_clear_error(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    contexts_text = (DATA / "binding-contexts" / "malformed.json").read_text()
    # run_hook writes JSON; write the malformed text by hand through a one-off context file.
    import subprocess

    path = Path(operator.env["HOME"]) / "bc.json"
    path.write_text(contexts_text)
    done = subprocess.run(
        [str(HOOK)],
        env={**operator.env, "BINDING_CONTEXT_PATH": str(path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "binding context is not JSON" in done.stdout
    assert fake_connect.requests == []  # nothing was reconciled from a context it cannot read


def test_onstartup_alone_does_nothing(operator: ShellOperator, fake_connect: FakeConnect) -> None:
    contexts = json.loads((DATA / "binding-contexts" / "onstartup.json").read_text())
    run = operator.run_with(contexts)
    assert run.returncode == 0
    assert fake_connect.requests == []


def test_metrics_file_holds_grouped_gauges(operator: ShellOperator) -> None:
    _load(operator, "sinks-multi.yaml")
    run = operator.run()
    metrics = [json.loads(line) for line in run.metrics.splitlines()]
    assert all(m["group"] == "connect_operator" and m["action"] == "set" for m in metrics)
    created = [
        m
        for m in metrics
        if m["name"] == "connect_operator_connectors" and m["labels"]["result"] == "created"
    ]
    assert created[0]["value"] == 2


def test_patch_file_writes_one_data_key_per_entry_with_merge_patches(
    operator: ShellOperator,
) -> None:
    _load(operator, "sinks-multi.yaml")
    run = operator.run()
    operations = [json.loads(line) for line in run.patch.splitlines()]
    # Events (events.py) are Creates of their own; this test is about the ledger's operations.
    operations = [op for op in operations if op.get("object", {}).get("kind") != "Event"]
    creates = [op for op in operations if op["operation"] == "CreateIfNotExists"]
    patches = [op for op in operations if op["operation"] == "MergePatch"]
    assert len(creates) == len(patches) and len(creates) + len(patches) == len(operations)
    for create in creates:
        assert create["object"]["metadata"]["labels"] == {
            "app.kubernetes.io/managed-by": "connect-operator"
        }
        assert create["object"]["data"] == {}
    keys = [key for op in patches for key in op["mergePatch"]["data"] if key != "status.json"]
    assert len(keys) == 2 and all(key.startswith("c.") for key in keys)
    assert {op["name"] for op in patches} <= {
        "connect-operator-ledger",
        *(f"connect-operator-ledger-{index}" for index in range(1, 32)),
    }
