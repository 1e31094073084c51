"""Operations on the real local cluster (Kafka 4.1.2): auto-restart of a task that cannot run,
validation before apply, rejected configs not re-sent, and the Events each of these emits in
the hook's patch file. Same harness as test_hook_on_real_connect: the real hook executable,
a recording proxy in front of one worker, ConfigMaps in a stand-in store."""

# The fixtures are imported from test_hook_on_real_connect, so test parameters share their names.
# ruff: noqa: F811

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.integration.test_hook_on_real_connect import (  # noqa: F401  (fixtures)
    SINK,
    make_operator,
    ok,
    operator,
    prefix,
    proxy,
    settled_listing,
    settled_state,
    sink,
    variables_dir,
    with_state,
)
from tests.support.recording_proxy import RecordingProxy
from tests.support.shell_operator import HookRun, ShellOperator


def events(run: HookRun) -> list[dict[str, Any]]:
    """The Events a run asked shell-operator to create."""
    found = []
    for line in run.patch.splitlines():
        operation = json.loads(line)
        if operation["operation"] == "Create" and operation["object"]["kind"] == "Event":
            found.append(operation["object"])
    return found


def reasons(run: HookRun) -> list[str]:
    return [event["reason"] for event in events(run)]


def unwritable_sink(name: str, directory: Path) -> str:
    """A FileStreamSink whose `file` is a directory: its task fails as it starts."""
    return json.dumps(
        {
            "name": name,
            "config": {
                "connector.class": SINK,
                "topics": "it.unwritable",
                "file": str(directory),
                "tasks.max": "1",
            },
        }
    )


def wait_for_failed_task(url: str, name: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        status = settled_listing(url, {name})[name]["status"]
        if any(task["state"] == "FAILED" for task in status["tasks"]):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never had a FAILED task: {status}")
        time.sleep(0.5)


def test_a_task_that_cannot_run_is_restarted_with_growing_waits_and_then_given_up(
    proxy: RecordingProxy, variables_dir: Path, prefix: str, connect_cluster: Any, tmp_path: Path
) -> None:
    operator = make_operator(
        proxy.url,
        variables_dir,
        CONNECT_OPERATOR_RESTART_BACKOFF_UNIT="2",  # waits of 4 s, then 12 s
        CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS="2",
    )
    name = f"{prefix}unwritable"
    operator.put_configmap("broken-sink", {"s.json": unwritable_sink(name, tmp_path)})
    first = operator.run()
    ok(first)
    assert reasons(first) == ["Created"]
    wait_for_failed_task(connect_cluster.urls[0], name)

    restarts: list[tuple[float, float]] = []  # (before the run, after it)
    gave_up: tuple[float, float] | None = None
    seen: list[list[str]] = []
    started = time.monotonic()
    while time.monotonic() - started < 60:
        proxy.exchanges.clear()
        before = time.monotonic()
        run = operator.run(trigger="Schedule")
        after = time.monotonic()
        ok(run)
        sent = [e for e in proxy.exchanges if e.method == "POST"]
        if sent:
            assert [(e.path, e.status) for e in sent] == [
                (f"/connectors/{name}/restart?includeTasks=true&onlyFailed=true", 202)
            ]
            restarts.append((before, after))
            wait_for_failed_task(connect_cluster.urls[0], name)  # it fails again at once
        if reasons(run):
            seen.append(reasons(run))
        if "GaveUp" in reasons(run):
            gave_up = (before, after)
            break
        time.sleep(0.5)
    assert seen == [["Failed", "Restarted"], ["Restarted"], ["GaveUp"]]
    assert len(restarts) == 2 and gave_up is not None
    # growing waits, each due at a fixed offset from attempt 1: attempt 2 after (1² + 1) x 2 s,
    # the give-up (2² + 2) x 2 s after that
    assert restarts[1][1] - restarts[0][0] >= 4
    assert gave_up[1] - restarts[0][0] >= 4 + 12
    # given up: no more restarts, no more Events, nothing written
    proxy.exchanges.clear()
    final = operator.run(trigger="Schedule")
    ok(final)
    assert proxy.writes() == [] and final.patch == ""
    messages = [e["message"] for run in operator.runs for e in events(run)]
    assert any("attempt 2 of 2" in m for m in messages)
    assert any(m.endswith("still FAILED after 2 restart attempts") for m in messages)
    no_canary_in(operator)


def test_a_config_that_fails_validation_is_refused_with_nothing_written_and_not_resent(
    operator: ShellOperator, proxy: RecordingProxy, prefix: str, connect_cluster: Any
) -> None:
    name = f"{prefix}invalid"
    operator.put_configmap("invalid", {"i.json": sink(name, tasks="several")})
    run = operator.run()
    ok(run)
    assert proxy.writes() == []
    assert any(e.path.endswith("/config/validate") for e in proxy.exchanges)
    assert name not in settled_listing(connect_cluster.urls[0])
    (rejected,) = events(run)
    assert (rejected["reason"], rejected["type"]) == ("Rejected", "Warning")
    assert "tasks.max: Invalid value **** for configuration tasks.max" in rejected["message"]
    assert "several" not in run.stdout + run.patch
    failed = [line for line in run.log_lines() if line.get("action") == "failed"]
    assert failed and failed[0]["configmap"] == "default/invalid"

    proxy.exchanges.clear()
    again = operator.run(trigger="Schedule")
    ok(again)
    assert [(e.method, e.path) for e in proxy.exchanges] == [
        ("GET", "/connectors?expand=info&expand=status"),
        ("GET", "/connector-plugins?connectorsOnly=true"),
    ]
    assert again.patch == ""

    operator.put_configmap("invalid", {"i.json": sink(name, tasks=1)})
    fixed = operator.run()
    ok(fixed)
    assert [e.status for e in proxy.writes()] == [201]
    assert reasons(fixed) == ["Created"]
    no_canary_in(operator)


def test_creating_paused_and_resuming_emit_created_and_state_changed(
    operator: ShellOperator, prefix: str, connect_cluster: Any
) -> None:
    name = f"{prefix}paused"
    operator.put_configmap("paused", {"p.json": with_state(sink(name), "paused")})
    created = operator.run()
    ok(created)
    assert [(e["reason"], e["message"]) for e in events(created)] == [
        ("Created", f"connector {name} on self-managed: created and paused")
    ]
    settled_state(connect_cluster.urls[0], name, "PAUSED")
    operator.put_configmap("paused", {"p.json": sink(name)})
    resumed = operator.run()
    ok(resumed)
    assert reasons(resumed) == ["StateChanged"]
    settled_state(connect_cluster.urls[0], name, "RUNNING")
    unchanged = operator.run(trigger="Schedule")
    ok(unchanged)
    assert events(unchanged) == []
    no_canary_in(operator)


def no_canary_in(operator: ShellOperator) -> None:
    for run in operator.runs:
        assert "IT-CANARY" not in run.stdout + run.stderr + run.patch + run.metrics
