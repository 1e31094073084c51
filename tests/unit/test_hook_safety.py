"""Rules 1-3 of issue 9, through the hook's whole run as shell-operator drives it: outputs
applied only on exit 0, and (on request) a ledger snapshot from before the last write.

The hook runs in process (`ShellOperator(in_process=True)`, on a fake clock); the test marked
`REAL_EXECUTABLE_TOO` runs a second time with its stale-snapshot run made by the real executable
started as a process (the runs around it stay in process), a smoke test of what only a process
shows: the executable's exit code decides whether shell-operator applies the patch it wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connect_operator.ledger import entry_key, shard_of
from tests.support.fake_connect import FakeConnect, serve
from tests.support.shell_operator import HookRun, ShellOperator
from tests.unit.conftest import connector_json

CLOUD_PREFIX = "/connect/v1/environments/env-1/clusters/lkc-1"
CLOUD_TARGET = "confluent-cloud/env-1/lkc-1"
LEDGER = "connect-operator-ledger"
IN_PROCESS, REAL_EXECUTABLE = "in_process", "real_executable"
# `operator` (tests/unit/conftest.py) runs the hook in process; these tests' stale-snapshot run
# also runs once as the real executable.
REAL_EXECUTABLE_TOO = pytest.mark.parametrize("stale_run_mode", [IN_PROCESS, REAL_EXECUTABLE])


def stale_run(operator: ShellOperator, mode: str) -> HookRun:
    """A run on a stale ledger snapshot, by the hook in process or the real executable."""
    operator.in_process = mode == IN_PROCESS
    try:
        return operator.run(stale_ledger=True)
    finally:
        operator.in_process = True


def owned(operator: ShellOperator) -> list[str]:
    ledger = operator.ledger()
    return [] if ledger is None else [entry["connector"] for entry in ledger["entries"]]


# -- rule 1: ownership is never lost ---------------------------------------------------------


@REAL_EXECUTABLE_TOO
def test_a_stale_ledger_snapshot_never_drops_an_entry_so_nothing_is_orphaned(
    operator: ShellOperator, fake_connect: FakeConnect, stale_run_mode: str
) -> None:
    # "a" and "c73" share a ledger shard: a rewrite of that ConfigMap would lose one of them.
    assert shard_of(LEDGER, entry_key("self-managed", "a")) == shard_of(
        LEDGER, entry_key("self-managed", "c73")
    )
    operator.put_configmap("a", {"a.json": connector_json("a")})
    assert operator.run().returncode == 0
    assert owned(operator) == ["a"]
    # Run N+1 sees the ledger from before run N's write, while a's ConfigMap is gone and a new
    # ConfigMap arrives: it must not write the ledger without a.
    operator.delete_configmap("a")
    operator.put_configmap("c73", {"c73.json": connector_json("c73")})
    stale = stale_run(operator, stale_run_mode)
    assert stale.returncode == 0
    assert sorted(fake_connect.connectors) == ["a", "c73"]  # a is not ours in that snapshot
    assert owned(operator) == ["a", "c73"]
    # The next run, with a fresh snapshot, still owns a, so it prunes it.
    assert operator.run().returncode == 0
    assert sorted(fake_connect.connectors) == ["c73"]
    assert owned(operator) == ["c73"]


def test_a_stale_snapshot_after_a_prune_does_not_bring_the_entry_back_for_good(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("a", {"a.json": connector_json("a")})
    operator.put_configmap("b", {"b.json": connector_json("b")})
    assert operator.run().returncode == 0
    operator.delete_configmap("a")
    assert operator.run().returncode == 0
    assert owned(operator) == ["b"]
    # A stale snapshot still lists a as owned; a is gone, so its entry is only dropped again.
    assert operator.run(stale_ledger=True).returncode == 0
    assert owned(operator) == ["b"] and sorted(fake_connect.connectors) == ["b"]


@pytest.fixture
def cloud() -> Iterator[FakeConnect]:
    """A Confluent Cloud cluster (basic auth, its own path prefix) on loopback."""
    with serve(FakeConnect(prefix=CLOUD_PREFIX, basic_auth=("cc-key", "CANARY-CC-SECRET"))) as fake:
        yield fake


@pytest.fixture
def two_targets(operator: ShellOperator, cloud: FakeConnect) -> ShellOperator:
    """The operator with a self-managed Connect and a Confluent Cloud cluster to talk to."""
    operator.env.update(
        {
            "CONFLUENT_CLOUD_API_URL": cloud.url,
            "CONNECT_REST_KEY": "cc-key",
            "CONNECT_REST_SECRET": "CANARY-CC-SECRET",
        }
    )
    operator.put_configmap(
        "orders-cluster", {}, {"environment_id": "env-1", "resource_id": "lkc-1"}
    )
    operator.put_configmap(
        "cc",
        {"cc.json": connector_json("cc-sink")},
        {"destination": "connect", "enabled": "true", "destination.cc": "orders-cluster"},
    )
    for name in ("s1", "s2"):
        operator.put_configmap(name, {f"{name}.json": connector_json(name)})
    return operator


def test_a_run_that_created_connectors_and_had_a_failing_target_keeps_their_ownership(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConnect, closed_port: int
) -> None:
    cloud_url = two_targets.env["CONFLUENT_CLOUD_API_URL"]
    two_targets.env["CONFLUENT_CLOUD_API_URL"] = f"http://127.0.0.1:{closed_port}"
    run = two_targets.run()
    assert run.returncode == 0  # else shell-operator would drop the ledger patch
    assert sorted(fake_connect.connectors) == ["s1", "s2"]
    assert owned(two_targets) == ["s1", "s2"]
    assert two_targets.metric("connect_operator_target_up", target="self-managed") == 1
    assert two_targets.metric("connect_operator_target_up", target=CLOUD_TARGET) == 0
    created = two_targets.metric(
        "connect_operator_connectors", target="self-managed", result="created"
    )
    assert created == 2
    # Once the cluster answers, the next run (a retry tick) creates and owns its connector too.
    two_targets.env["CONFLUENT_CLOUD_API_URL"] = cloud_url
    (context,) = _contexts(two_targets)
    assert two_targets.run_with([{**context, "binding": "retry"}]).returncode == 0
    assert list(cloud.connectors) == ["cc-sink"]
    assert owned(two_targets) == ["cc-sink", "s1", "s2"]


# -- rule 2: outages are visible -------------------------------------------------------------


def test_refused_credentials_are_reported_plainly_and_not_retried_soon(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConnect
) -> None:
    two_targets.env["CONNECT_REST_SECRET"] = "CANARY-CC-SECRET-but-rotated"
    run = two_targets.run()
    assert run.returncode == 0
    assert two_targets.metric("connect_operator_target_up", target=CLOUD_TARGET) == 0
    failed = {"target": CLOUD_TARGET, "kind": "permanent"}
    assert two_targets.metric("connect_operator_target_failed", **failed) == 1
    messages = [line["msg"] for line in run.log_lines() if line.get("target") == CLOUD_TARGET]
    assert any("refuses our credentials (401)" in m and "CONNECT_REST_KEY" in m for m in messages)
    assert any("not retried before the next resync" in m for m in messages)
    # the healthy target's ledger and metrics were written all the same
    assert owned(two_targets) == ["s1", "s2"]
    assert two_targets.metric("connect_operator_target_up", target="self-managed") == 1
    # nothing to retry soon: a retry tick with no change sends no request at all
    cloud.requests.clear()
    fake_connect.requests.clear()
    (context,) = _contexts(two_targets)
    tick = two_targets.run_with([{**context, "binding": "retry"}])
    assert tick.returncode == 0 and cloud.requests == [] and fake_connect.requests == []
    for canary in ("CANARY-CC-SECRET",):
        assert all(canary not in r.stdout + r.patch + r.metrics for r in two_targets.runs)


def _contexts(operator: ShellOperator) -> list[dict[str, object]]:
    from tests.support.shell_operator import group_contexts

    return group_contexts(operator.config(), operator.store)


# -- rule 3: deletions are bounded and owned -------------------------------------------------


def test_configmaps_losing_their_enabled_label_are_bounded_by_max_deletes(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_MAX_DELETES"] = "3"
    for index in range(6):
        operator.put_configmap(f"c{index}", {"c.json": connector_json(f"c{index}")})
    assert operator.run().returncode == 0
    for index in range(6):
        operator.put_configmap(
            f"c{index}", {"c.json": connector_json(f"c{index}")}, {"destination": "connect"}
        )
    run = operator.run()
    assert run.returncode == 0
    assert len(fake_connect.connectors) == 6
    assert operator.metric("connect_operator_deletes_refused", target="self-managed") == 6
    (refusal,) = [line for line in run.log_lines() if line.get("action") == "refused"]
    assert "CONNECT_OPERATOR_MAX_DELETES=6 (or -1 for no limit)" in refusal["msg"]
    # doing what the message says lets the intended deletion through
    operator.env["CONNECT_OPERATOR_MAX_DELETES"] = "6"
    assert operator.run().returncode == 0
    assert fake_connect.connectors == {}
    assert operator.metric("connect_operator_deletes_refused", target="self-managed") == 0


def test_one_configmap_with_enabled_false_and_many_keys_counts_every_delete(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_MAX_DELETES"] = "5"
    data = {f"k{index}.json": connector_json(f"k{index}") for index in range(20)}
    fake_connect.connectors.update(
        {f"k{index}": {"connector.class": "FileStreamSink"} for index in range(20)}
    )
    operator.put_configmap("many", data, {"destination": "connect", "enabled": "false"})
    assert operator.run().returncode == 0
    assert len(fake_connect.connectors) == 20
    assert operator.metric("connect_operator_deletes_refused", target="self-managed") == 20


@pytest.mark.parametrize("value", ["True", "yes", ""])
def test_an_enabled_label_other_than_true_or_false_deletes_nothing(
    operator: ShellOperator, fake_connect: FakeConnect, value: str
) -> None:
    operator.put_configmap("c", {"c.json": connector_json("c")})
    assert operator.run().returncode == 0
    operator.put_configmap(
        "c", {"c.json": connector_json("c")}, {"destination": "connect", "enabled": value}
    )
    run = operator.run()
    assert run.returncode == 0
    assert "c" in fake_connect.connectors and owned(operator) == ["c"]
    errors = [line for line in run.log_lines() if line.get("configmap") == "default/c"]
    assert any('must be exactly "true" or "false"' in line["msg"] for line in errors)


def test_a_pruned_connector_someone_replaced_is_reported_not_deleted(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("c", {"c.json": connector_json("c")})
    assert operator.run().returncode == 0
    fake_connect.connectors["c"] = {"connector.class": "FileStreamSource", "name": "c"}
    operator.delete_configmap("c")
    run = operator.run()
    assert run.returncode == 0
    assert "c" in fake_connect.connectors
    assert any(
        "someone replaced it" in line["msg"] and "'FileStreamSource'" in line["msg"]
        for line in run.log_lines()
        if line.get("connector") == "c"
    )


def test_another_namespace_cannot_take_or_delete_an_owned_connector(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["WATCH_NAMESPACES"] = "team-a,team-b"
    operator.env["POD_NAMESPACE"] = "team-b"
    operator.put_configmap("orders", {"o.json": connector_json("orders")}, namespace="team-b")
    assert operator.run().returncode == 0
    assert owned_in(operator, "team-b") == ["orders"]
    # team-a declares the same name (sorting first), once to change it and once to delete it
    for enabled in ("true", "false"):
        operator.put_configmap(
            "grab",
            {"o.json": connector_json("orders", topics="stolen")},
            {"destination": "connect", "enabled": enabled},
            namespace="team-a",
        )
        run = operator.run()
        assert run.returncode == 0
        assert fake_connect.connectors["orders"]["topics"] == "t"
        assert any(
            line.get("configmap") == "team-a/grab" and "as its owner" in line["msg"]
            for line in run.log_lines()
        )
    assert owned_in(operator, "team-b") == ["orders"]


def owned_in(operator: ShellOperator, namespace: str) -> list[str]:
    ledger = operator.ledger(namespace=namespace)
    return [] if ledger is None else [entry["connector"] for entry in ledger["entries"]]
