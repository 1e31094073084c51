"""The real hook executable against a real Kafka Connect cluster (KRaft broker, two workers).

Each test drives `hooks/connect-operator` the way shell-operator does (binding-context file and
the six *_PATH files, patch applied to a store of ConfigMaps) through a recording proxy in front
of one worker, so writes can be counted. Connectors are FileStreamSource/FileStreamSink, which
need nothing outside Kafka. Every test uses its own name prefix and removes what it created.
The last tests hold issue 9's rules 1-3 (ownership never lost to a stale ledger snapshot or a
failing target; deletions bounded by CONNECT_OPERATOR_MAX_DELETES, checked to be ours, and
safe from other namespaces) on real Connect.
"""

from __future__ import annotations

import itertools
import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connect_operator.ledger import entry_key, shard_of
from tests.kafka import cluster
from tests.support.recording_proxy import RecordingProxy, recording_proxy
from tests.support.shell_operator import (
    REPO_ROOT,
    ShellOperator,
    group_contexts,
)

SOURCE = "org.apache.kafka.connect.file.FileStreamSourceConnector"
SINK = "org.apache.kafka.connect.file.FileStreamSinkConnector"

pytestmark = pytest.mark.integration


def listing(url: str) -> dict[str, Any]:
    """GET /connectors?expand=info&expand=status straight from a worker."""
    response = requests.get(
        f"{url}/connectors", params=[("expand", "info"), ("expand", "status")], timeout=30
    )
    response.raise_for_status()
    return dict(response.json())


def settled_listing(
    url: str,
    present: frozenset[str] | set[str] = frozenset(),
    absent: frozenset[str] | set[str] = frozenset(),
    timeout: float = 30,
) -> dict[str, Any]:
    """The listing once it shows `present` and not `absent`: a worker's config copy can lag a
    moment behind the leader's, so wait for it rather than read it once."""
    deadline = time.monotonic() + timeout
    while True:
        actual = listing(url)
        if present <= set(actual) and not (absent & set(actual)):
            return actual
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{url} never showed {sorted(present)} without {sorted(absent)}: {sorted(actual)}"
            )
        time.sleep(0.3)


@pytest.fixture
def prefix(connect_cluster: cluster.ClusterInfo) -> Iterator[str]:
    """A unique connector-name prefix; its connectors are deleted after the test."""
    value = f"it-{uuid.uuid4().hex[:8]}-"
    yield value
    for url in connect_cluster.urls:
        try:
            names = requests.get(f"{url}/connectors", timeout=30).json()
        except requests.RequestException:
            continue
        for name in names:
            if name.startswith(value):
                requests.delete(f"{url}/connectors/{name}", timeout=60)
        break


@pytest.fixture
def variables_dir(tmp_path: Path) -> Path:
    path = tmp_path / "variables"
    path.mkdir()
    (path / "kafka.properties").write_text(
        "bootstrap.servers=127.0.0.1:19092\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        'username="IT-CANARY-KEY" password="IT-CANARY-SECRET=x=";\n'
    )
    (path / "demo.properties").write_text(f"data.dir={tmp_path}\ntopic.prefix=it.\n")
    return path


@pytest.fixture
def proxy(connect_cluster: cluster.ClusterInfo) -> Iterator[RecordingProxy]:
    with recording_proxy(connect_cluster.urls[0]) as recorder:
        yield recorder


def make_operator(url: str, variables_dir: Path, **extra: str) -> ShellOperator:
    import os

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(variables_dir.parent),
        "CONNECT_URL": url,
        "CONNECT_OPERATOR_CONFIG_DIR": str(variables_dir),
        "CONNECT_OPERATOR_RUN_DEADLINE": "90",
        **extra,
    }
    return ShellOperator(env=env)


@pytest.fixture
def operator(proxy: RecordingProxy, variables_dir: Path) -> ShellOperator:
    return make_operator(proxy.url, variables_dir)


def sink(name: str, topic: str = "t", tasks: Any = 1, **config: Any) -> str:
    """A FileStreamSink program using variables: the file goes under $DATA_DIR."""
    extra = "".join(f", {json.dumps(k)}: {json.dumps(v)}" for k, v in config.items())
    return (
        f'{{"name": {json.dumps(name)}, "config": {{"connector.class": "{SINK}",'
        f' "topics": ($TOPIC_PREFIX + {json.dumps(topic)}),'
        f' "file": ($DATA_DIR + "/{name}.out"), "tasks.max": {json.dumps(tasks)}{extra}}}}}'
    )


def source(name: str, topic: str = "t") -> str:
    return (
        f'{{"name": {json.dumps(name)}, "config": {{"connector.class": "{SOURCE}",'
        f' "topic": ($TOPIC_PREFIX + {json.dumps(topic)}), "file": ($DATA_DIR + "/{name}.in"),'
        f' "tasks.max": 1,'
        f' "producer.override.sasl.jaas.config": ("user=" + env.KAFKA_API_KEY)}}}}'
    )


def ok(run: Any) -> None:
    assert run.returncode == 0, f"exit {run.returncode}\n{run.stdout}\n{run.stderr}"


def test_create_then_an_unchanged_rerun_makes_zero_writes(
    operator: ShellOperator, proxy: RecordingProxy, prefix: str, connect_cluster: Any
) -> None:
    operator.put_configmap(
        "multi", {"a.json": sink(f"{prefix}a", tasks=2), "b.json": source(f"{prefix}b")}
    )
    ok(operator.run())
    actual = settled_listing(connect_cluster.urls[1], {f"{prefix}a", f"{prefix}b"})
    assert actual[f"{prefix}a"]["info"]["config"]["tasks.max"] == "2"
    assert actual[f"{prefix}a"]["info"]["config"]["topics"] == "it.t"
    assert actual[f"{prefix}b"]["info"]["config"]["producer.override.sasl.jaas.config"] == (
        "user=IT-CANARY-KEY"
    )
    assert [e.status for e in proxy.writes()] == [201, 201]
    proxy.exchanges.clear()
    rerun = operator.run(trigger="Schedule")
    ok(rerun)
    assert proxy.writes() == []
    assert [(e.method, e.status) for e in proxy.exchanges] == [("GET", 200)]
    assert rerun.patch == ""
    for run in operator.runs:
        assert "IT-CANARY" not in run.stdout + run.stderr + run.patch + run.metrics


def test_changing_one_key_updates_only_that_connector(
    operator: ShellOperator, proxy: RecordingProxy, prefix: str, connect_cluster: Any
) -> None:
    operator.put_configmap("one", {"a.json": sink(f"{prefix}a"), "b.json": sink(f"{prefix}b")})
    ok(operator.run())
    proxy.exchanges.clear()
    operator.put_configmap(
        "one", {"a.json": sink(f"{prefix}a", topic="changed"), "b.json": sink(f"{prefix}b")}
    )
    ok(operator.run())
    assert [(e.method, e.path, e.status) for e in proxy.writes()] == [
        ("PUT", f"/connectors/{prefix}a/config", 200)
    ]
    assert (
        listing(connect_cluster.urls[0])[f"{prefix}a"]["info"]["config"]["topics"] == "it.changed"
    )


def test_enabled_false_deletes_the_connector(
    operator: ShellOperator, prefix: str, connect_cluster: Any
) -> None:
    operator.put_configmap("toggle", {"a.json": sink(f"{prefix}a")})
    ok(operator.run())
    settled_listing(connect_cluster.urls[0], present={f"{prefix}a"})
    operator.put_configmap(
        "toggle", {"a.json": sink(f"{prefix}a")}, {"destination": "connect", "enabled": "false"}
    )
    ok(operator.run())
    settled_listing(connect_cluster.urls[0], absent={f"{prefix}a"})


def test_a_deleted_configmap_deletes_its_connectors_and_leaves_foreign_ones(
    operator: ShellOperator, prefix: str, connect_cluster: Any
) -> None:
    foreign = f"{prefix}foreign"
    requests.put(
        f"{connect_cluster.urls[0]}/connectors/{foreign}/config",
        json={"connector.class": SINK, "topics": "x", "file": "/dev/null"},
        timeout=60,
    ).raise_for_status()
    operator.put_configmap("doomed", {"a.json": sink(f"{prefix}a")})
    operator.put_configmap("kept", {"k.json": sink(f"{prefix}k")})
    ok(operator.run())
    settled_listing(connect_cluster.urls[0], present={f"{prefix}a", f"{prefix}k", foreign})
    operator.delete_configmap("doomed")
    ok(operator.run())
    settled_listing(connect_cluster.urls[0], present={foreign, f"{prefix}k"}, absent={f"{prefix}a"})


def test_a_removed_key_and_a_renamed_connector_are_pruned(
    operator: ShellOperator, prefix: str, connect_cluster: Any
) -> None:
    operator.put_configmap(
        "keys",
        {"a.json": sink(f"{prefix}a"), "b.json": sink(f"{prefix}b"), "c.json": sink(f"{prefix}c")},
    )
    ok(operator.run())
    operator.put_configmap("keys", {"a.json": sink(f"{prefix}a"), "c.json": sink(f"{prefix}c2")})
    ok(operator.run())
    actual = settled_listing(
        connect_cluster.urls[0],
        present={f"{prefix}a", f"{prefix}c2"},
        absent={f"{prefix}b", f"{prefix}c"},
    )
    assert {n for n in actual if n.startswith(prefix)} == {f"{prefix}a", f"{prefix}c2"}
    entries = operator.ledger()["entries"]
    assert sorted(e["connector"] for e in entries) == [f"{prefix}a", f"{prefix}c2"]


def test_a_broken_configmap_beside_good_ones_is_reported_and_the_rest_created(
    operator: ShellOperator, prefix: str, connect_cluster: Any
) -> None:
    operator.put_configmap("broken", {"x.json": '{"name": "x", "config": {"topics": $NOPE}}'})
    operator.put_configmap("good", {"g.json": sink(f"{prefix}g")})
    run = operator.run()
    ok(run)
    settled_listing(connect_cluster.urls[0], present={f"{prefix}g"})
    errors = [line for line in run.log_lines() if line["level"] == "error"]
    assert any(
        line.get("configmap") == "default/broken" and line.get("key") == "x.json" for line in errors
    )


@pytest.mark.parametrize(
    ("program", "expected_message"),
    [
        (
            '{"name": "%s", "config": {"connector.class": "com.example.NoSuchConnector"}}',
            "Failed to find any class",
        ),
        (
            '{"name": "%s", "config": {"connector.class": "' + SOURCE + '", "file": "/x"}}',
            'Missing required configuration "topic"',
        ),
    ],
    ids=["unknown-class", "missing-required-setting"],
)
def test_what_connect_rejects_names_the_configmap_and_key_and_the_rest_goes_on(
    operator: ShellOperator,
    prefix: str,
    connect_cluster: Any,
    program: str,
    expected_message: str,
) -> None:
    operator.put_configmap("rejected", {"bad.json": program % f"{prefix}bad"})
    operator.put_configmap("fine", {"g.json": sink(f"{prefix}g")})
    run = operator.run()
    ok(run)  # a permanent, per-connector error does not fail the run
    names = set(settled_listing(connect_cluster.urls[0], present={f"{prefix}g"}))
    assert f"{prefix}bad" not in names
    failed = [line for line in run.log_lines() if line.get("action") == "failed"]
    assert len(failed) == 1
    assert failed[0]["configmap"] == "default/rejected" and failed[0]["key"] == "bad.json"
    assert expected_message in failed[0]["msg"]


def test_requests_sent_to_the_worker_that_is_not_the_leader_still_work(
    prefix: str, connect_cluster: Any, variables_dir: Path
) -> None:
    leader = cluster.leader_url()
    assert leader is not None
    follower = next(url for url in connect_cluster.urls if url.rstrip("/") != leader)
    with recording_proxy(follower) as follower_proxy:
        operator = make_operator(follower_proxy.url, variables_dir)
        operator.put_configmap("f", {"a.json": sink(f"{prefix}a"), "b.json": sink(f"{prefix}b")})
        ok(operator.run())
        operator.put_configmap("f", {"a.json": sink(f"{prefix}a", topic="moved")})
        ok(operator.run())
        writes = [(e.method, e.status) for e in follower_proxy.writes()]
    assert writes == [("PUT", 201), ("PUT", 201), ("DELETE", 204), ("PUT", 200)]
    actual = settled_listing(leader, present={f"{prefix}a"}, absent={f"{prefix}b"})
    assert actual[f"{prefix}a"]["info"]["config"]["topics"] == "it.moved"
    assert f"{prefix}b" not in actual


def test_stopped_connect_is_reported_down_within_the_deadline_and_a_restart_converges(
    restore_workers: Any, prefix: str, variables_dir: Path
) -> None:
    urls = restore_workers.urls
    operator = make_operator(urls[0], variables_dir, CONNECT_OPERATOR_RUN_DEADLINE="30")
    operator.put_configmap("r", {"a.json": sink(f"{prefix}a")})
    cluster.stop_all_workers()
    started = time.monotonic()
    failed = operator.run(timeout=120)
    elapsed = time.monotonic() - started
    # Exit 0 so that shell-operator applies the outputs: the outage shows as target_up 0, and
    # the retry schedule tries again.
    ok(failed)
    assert elapsed < 45
    assert operator.metric("connect_operator_target_up", target="self-managed") == 0
    cluster.start_all_workers()
    ok(operator.run())
    settled_listing(urls[0], present={f"{prefix}a"})
    assert operator.metric("connect_operator_target_up", target="self-managed") == 1


def test_a_worker_killed_mid_run_loses_nothing_and_creates_nothing_twice(
    restore_workers: Any, prefix: str, variables_dir: Path
) -> None:
    urls = restore_workers.urls
    operator = make_operator(urls[0], variables_dir)
    names = [f"{prefix}{index:02d}" for index in range(12)]
    operator.put_configmap("many", {f"{name}.json": sink(name) for name in names})
    killer = threading.Timer(1.0, cluster.stop_worker, args=(1,), kwargs={"kill": True})
    killer.start()
    first = operator.run(timeout=200)
    killer.join()
    assert first.returncode in (0, 1)  # it may or may not have finished before the kill hurt
    cluster.start_worker(1)
    ok(operator.run(timeout=200))
    actual = settled_listing(urls[0], present=set(names))
    assert sorted(n for n in actual if n.startswith(prefix)) == names
    entries = operator.ledger()["entries"]
    assert sorted(e["connector"] for e in entries) == names


def test_many_connectors_created_while_a_worker_joins_converge(
    restore_workers: Any, prefix: str, variables_dir: Path
) -> None:
    urls = restore_workers.urls
    cluster.stop_worker(1)
    names = [f"{prefix}{index:02d}" for index in range(15)]
    operator = make_operator(urls[0], variables_dir, CONNECT_OPERATOR_RUN_DEADLINE="120")
    operator.put_configmap("burst", {f"{name}.json": sink(name, tasks=2) for name in names})
    joiner = threading.Thread(target=cluster.start_worker, args=(1,))
    joiner.start()
    first = operator.run(timeout=200)
    joiner.join()
    if first.returncode != 0:
        ok(operator.run(timeout=200))
    actual = settled_listing(urls[0], present=set(names))
    assert sorted(n for n in actual if n.startswith(prefix)) == names


def test_conflicts_while_the_group_replaces_a_dead_leader_are_retried_in_the_run(
    restore_workers: Any, prefix: str, variables_dir: Path
) -> None:
    """Until the group notices its leader died (session timeout, 10 s) and rebalances, the
    surviving worker answers 500 "IO Error trying to forward REST request", then 409s while it
    rebalances. The hook must ride that out inside one run."""
    leader = cluster.leader_url()
    urls = list(restore_workers.urls)
    assert leader in urls
    follower = next(url for url in urls if url != leader)
    names = [f"{prefix}{index:02d}" for index in range(5)]
    cluster.stop_worker(urls.index(leader), kill=True)
    with recording_proxy(follower) as recorder:
        operator = make_operator(recorder.url, variables_dir, CONNECT_OPERATOR_RUN_DEADLINE="90")
        operator.put_configmap("leaderless", {f"{n}.json": sink(n) for n in names})
        ok(operator.run(timeout=200))
        exchanges = list(recorder.exchanges)
    retried = [e for e in exchanges if e.method == "PUT" and e.status in (409, 500)]
    print(f"retried answers while the leader was replaced: {len(retried)}")
    assert retried, "the surviving worker never refused a write: nothing was retried"
    for exchange in retried:
        assert any(e.path == exchange.path and e.status in (200, 201) for e in exchanges)
    settled_listing(follower, present=set(names))


def test_the_hook_leaves_no_file_behind_and_writes_only_its_outputs(
    operator: ShellOperator, prefix: str
) -> None:
    operator.put_configmap("files", {"a.json": source(f"{prefix}a")})
    run = operator.run()
    ok(run)
    assert run.files_left == []
    # What it did went into the two files shell-operator handed it, and nowhere else.
    patches = [json.loads(line) for line in run.patch.splitlines() if line.strip()]
    assert {p["operation"] for p in patches} >= {"CreateIfNotExists", "MergePatch"}
    assert any(
        json.loads(value)["n"] == f"{prefix}a"
        for p in patches
        if p["operation"] == "MergePatch"
        for key, value in p["mergePatch"]["data"].items()
        if key.startswith("c.") and value
    )
    metrics = [json.loads(line) for line in run.metrics.splitlines() if line.strip()]
    assert {"name": "connect_operator_target_up", "value": 1} in [
        {"name": m["name"], "value": m["value"]} for m in metrics
    ]


def test_contexts_combined_from_many_events_reconcile_once(
    operator: ShellOperator, proxy: RecordingProxy, prefix: str
) -> None:
    operator.put_configmap("c", {"a.json": sink(f"{prefix}a")})
    contexts = group_contexts(operator.config(), operator.store) * 3
    ok(operator.run_with(contexts))
    assert [(e.method, e.status) for e in proxy.writes()] == [("PUT", 201)]
    assert sum(1 for e in proxy.exchanges if e.method == "GET") == 1


def test_the_demo_examples_run_on_real_connect(
    prefix: str, connect_cluster: Any, tmp_path: Path
) -> None:
    from tests.kafka import demo

    assert demo.EXAMPLES.is_dir()
    done = subprocess.run(
        [sys.executable, "-m", "tests.kafka.demo", "--state-dir", str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "RUNNING" in done.stdout


def with_state(program: str, state: str) -> str:
    """A connector document with a top-level `state`."""
    return program[: program.rindex("}")] + f', "state": "{state}"}}'


def settled_state(url: str, name: str, state: str, timeout: float = 30) -> dict[str, Any]:
    """The connector's status once it reports `state` (pause and stop are asynchronous; a
    stopped connector's tasks go away a moment after its state says STOPPED)."""
    deadline = time.monotonic() + timeout
    while True:
        status = settled_listing(url, {name})[name]["status"]
        if status["connector"]["state"] == state and (state != "STOPPED" or not status["tasks"]):
            return dict(status)
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never became {state}: {status}")
        time.sleep(0.3)


def test_declared_states_are_applied_and_an_unchanged_rerun_writes_nothing(
    operator: ShellOperator, proxy: RecordingProxy, prefix: str, connect_cluster: Any
) -> None:
    stopped, paused, running = f"{prefix}stopped", f"{prefix}paused", f"{prefix}running"
    operator.put_configmap(
        "states",
        {
            "s.json": with_state(sink(stopped), "stopped"),
            "p.json": with_state(sink(paused), "paused"),
            "r.json": sink(running),
        },
    )
    ok(operator.run())
    url = connect_cluster.urls[0]
    settled_state(url, stopped, "STOPPED")
    settled_state(url, paused, "PAUSED")
    settled_state(url, running, "RUNNING")
    # Kafka 4.1 takes `initial_state` on create (KIP-980): no moment of running first
    assert sorted((e.method, e.path, e.status) for e in proxy.writes()) == [
        ("POST", "/connectors", 201),
        ("POST", "/connectors", 201),
        ("PUT", f"/connectors/{running}/config", 201),
    ]
    proxy.exchanges.clear()
    ok(operator.run(trigger="Schedule"))
    assert proxy.writes() == []
    operator.put_configmap(
        "states",
        {"s.json": sink(stopped), "p.json": sink(paused), "r.json": sink(running)},
    )
    ok(operator.run())
    settled_state(url, stopped, "RUNNING")
    settled_state(url, paused, "RUNNING")
    assert sorted((e.method, e.path, e.status) for e in proxy.writes()) == [
        ("PUT", f"/connectors/{paused}/resume", 202),
        ("PUT", f"/connectors/{stopped}/resume", 202),
    ]


# -- issue 9: ownership never lost, deletions bounded and owned (rules 1-3) ----------------

LEDGER = "connect-operator-ledger"


def owned(operator: ShellOperator, namespace: str = "default") -> list[str]:
    ledger = operator.ledger(namespace=namespace)
    return [] if ledger is None else sorted(entry["connector"] for entry in ledger["entries"])


def same_shard_names(base: str) -> tuple[str, str]:
    """Two connector names whose ledger entries share a ConfigMap, so that rewriting that
    ConfigMap from a stale snapshot would lose one of them."""
    by_shard: dict[str, str] = {}
    for index in itertools.count():
        name = f"{base}{index}"
        shard = shard_of(LEDGER, entry_key("self-managed", name))
        if shard in by_shard:
            return by_shard[shard], name
        by_shard[shard] = name
    raise AssertionError("unreachable")


def test_a_stale_ledger_snapshot_orphans_nothing_on_real_connect(
    connect_cluster: Any, prefix: str, variables_dir: Path
) -> None:
    url = connect_cluster.urls[0]
    first, second = same_shard_names(prefix)
    operator = make_operator(url, variables_dir)
    operator.put_configmap("first", {"f.json": sink(first)})
    ok(operator.run())
    settled_listing(url, present={first})
    operator.delete_configmap("first")
    operator.put_configmap("second", {"s.json": sink(second)})
    ok(operator.run(stale_ledger=True))  # sees the ledger from before `first` was owned
    settled_listing(url, present={first, second})
    assert owned(operator) == sorted([first, second])
    ok(operator.run())  # a fresh snapshot: `first` is still owned, so it is pruned
    settled_listing(url, present={second}, absent={first})
    assert owned(operator) == [second]


def test_connectors_created_beside_an_unreachable_target_stay_owned(
    connect_cluster: Any, prefix: str, variables_dir: Path
) -> None:
    url = connect_cluster.urls[0]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    operator = make_operator(
        url,
        variables_dir,
        CONFLUENT_CLOUD_API_URL=f"http://127.0.0.1:{closed}",
        CONNECT_REST_KEY="key",
        CONNECT_REST_SECRET="IT-CANARY-CC-SECRET",
    )
    operator.put_configmap("cluster", {}, {"environment_id": "env-1", "resource_id": "lkc-1"})
    operator.put_configmap(
        "cloud",
        {"c.json": sink(f"{prefix}cloud")},
        {"destination": "connect", "enabled": "true", "destination.cc": "cluster"},
    )
    operator.put_configmap("local", {"a.json": sink(f"{prefix}a"), "b.json": sink(f"{prefix}b")})
    ok(operator.run())
    settled_listing(url, present={f"{prefix}a", f"{prefix}b"})
    assert owned(operator) == [f"{prefix}a", f"{prefix}b"]
    assert operator.metric("connect_operator_target_up", target="self-managed") == 1
    assert operator.metric("connect_operator_target_up", target="confluent-cloud/env-1/lkc-1") == 0
    # They stay owned: deleting their ConfigMap prunes them.
    operator.delete_configmap("local")
    ok(operator.run())
    settled_listing(url, absent={f"{prefix}a", f"{prefix}b"})


def test_enabled_false_deletes_count_against_max_deletes_on_real_connect(
    connect_cluster: Any, prefix: str, variables_dir: Path
) -> None:
    url = connect_cluster.urls[0]
    operator = make_operator(url, variables_dir, CONNECT_OPERATOR_MAX_DELETES="2")
    names = [f"{prefix}{index}" for index in range(3)]
    data = {f"{name}.json": sink(name) for name in names}
    operator.put_configmap("three", data)
    ok(operator.run())
    settled_listing(url, present=set(names))
    operator.put_configmap("three", data, {"destination": "connect", "enabled": "false"})
    run = operator.run()
    ok(run)
    settled_listing(url, present=set(names))
    assert operator.metric("connect_operator_deletes_refused", target="self-managed") == 3
    assert any("CONNECT_OPERATOR_MAX_DELETES=3" in line["msg"] for line in run.log_lines())
    operator.env["CONNECT_OPERATOR_MAX_DELETES"] = "3"
    ok(operator.run())
    settled_listing(url, absent=set(names))


def test_a_connector_replaced_by_hand_is_not_pruned_on_real_connect(
    connect_cluster: Any, prefix: str, variables_dir: Path, tmp_path: Path
) -> None:
    url = connect_cluster.urls[0]
    name = f"{prefix}mine"
    operator = make_operator(url, variables_dir)
    operator.put_configmap("mine", {"m.json": sink(name)})
    ok(operator.run())
    settled_listing(url, present={name})
    # Someone deletes it and makes a source under the same name.
    requests.delete(f"{url}/connectors/{name}", timeout=60).raise_for_status()
    settled_listing(url, absent={name})
    replacement = {"connector.class": SOURCE, "topic": "it.x", "file": str(tmp_path / "x.in")}
    requests.put(f"{url}/connectors/{name}/config", json=replacement, timeout=60)
    settled_listing(url, present={name})
    operator.delete_configmap("mine")
    run = operator.run()
    ok(run)
    assert any("someone replaced it" in line["msg"] for line in run.log_lines())
    settled_listing(url, present={name})


def test_another_namespace_cannot_delete_an_owned_connector_on_real_connect(
    connect_cluster: Any, prefix: str, variables_dir: Path
) -> None:
    url = connect_cluster.urls[0]
    name = f"{prefix}orders"
    operator = make_operator(
        url, variables_dir, WATCH_NAMESPACES="team-a,team-b", POD_NAMESPACE="team-b"
    )
    operator.put_configmap("orders", {"o.json": sink(name)}, namespace="team-b")
    ok(operator.run())
    settled_listing(url, present={name})
    operator.put_configmap(
        "grab",
        {"o.json": sink(name)},
        {"destination": "connect", "enabled": "false"},
        namespace="team-a",
    )
    run = operator.run()
    ok(run)
    settled_listing(url, present={name})
    assert owned(operator, "team-b") == [name]
    assert any(line.get("configmap") == "team-a/grab" for line in run.log_lines())
