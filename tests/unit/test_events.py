"""Kubernetes Events on the source ConfigMap, on transitions only, through the whole reconcile
(in-process, on an injected clock) and through the real hook's patch file."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ShellOperator
from tests.unit.conftest import connector_json
from tests.unit.test_restarts import MINUTE, Harness, configmap

SECRET = "CANARY-SECRET-9b2c=="  # the JAAS password in tests/data/variables


@pytest.fixture
def harness(fake_connect: FakeConnect, base_env: dict[str, str]) -> Harness:
    env = {
        **base_env,
        "CONNECT_URL": fake_connect.url,
        "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS": "2",
    }
    return Harness(fake_connect, env)


def declare(harness: Harness, state: str | None = None, **config: object) -> None:
    program = json.loads(connector_json("sink", **config))
    if state:
        program["state"] = state
    harness.store.put(configmap("sinks", {"sink.json": json.dumps(program)}))


def events(harness: Harness) -> list[dict[str, Any]]:
    """The Events the last run created."""
    return [
        op["object"]
        for op in harness.patch
        if op["operation"] == "Create" and op["object"]["kind"] == "Event"
    ]


def reasons(harness: Harness) -> list[str]:
    return [event["reason"] for event in events(harness)]


def test_a_created_connector_gets_one_event_on_its_configmap_and_an_unchanged_run_none(
    harness: Harness,
) -> None:
    declare(harness)
    harness.run()
    (event,) = events(harness)
    uid = harness.store.get("ConfigMap", "default", "sinks")["metadata"]["uid"]  # type: ignore[index]
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": "default",
        "name": "sinks",
        "uid": uid,
    }
    assert (event["reason"], event["type"]) == ("Created", "Normal")
    assert event["message"] == "connector sink on self-managed: created"
    assert event["metadata"]["namespace"] == "default"
    assert event["metadata"]["name"].startswith("sinks.")
    harness.run()
    assert events(harness) == []


def test_updates_name_their_keys_and_state_changes_and_deletes_have_their_own_reason(
    harness: Harness,
) -> None:
    declare(harness)
    harness.run()
    declare(harness, topics=f"t2-{SECRET}")
    harness.run()
    (updated,) = events(harness)
    assert updated["reason"] == "Updated"
    assert updated["message"] == "connector sink on self-managed: config updated (keys: topics)"
    declare(harness, state="paused", topics=f"t2-{SECRET}")
    harness.run()
    assert reasons(harness) == ["StateChanged"]
    assert "paused" in events(harness)[0]["message"]
    harness.store.delete("ConfigMap", "default", "sinks")
    harness.run()
    (deleted,) = events(harness)
    assert deleted["reason"] == "Deleted"
    assert deleted["involvedObject"]["name"] == "sinks" and "uid" not in deleted["involvedObject"]
    assert SECRET not in json.dumps(harness.patch)


def test_a_rejected_config_emits_one_warning_and_nothing_while_it_is_held_back(
    harness: Harness,
) -> None:
    declare(harness, **{"tasks.max": "many"})
    harness.run()
    (rejected,) = events(harness)
    assert (rejected["reason"], rejected["type"]) == ("Rejected", "Warning")
    assert "tasks.max: Invalid value **** for configuration tasks.max" in rejected["message"]
    assert "many" not in rejected["message"]
    harness.now += MINUTE
    harness.run()
    assert events(harness) == []


def test_a_failing_connector_emits_failed_restarted_and_given_up_once_each(
    harness: Harness,
) -> None:
    declare(harness)
    harness.run()
    harness.fake.failed_connectors["sink"] = (
        f"org.apache.kafka.connect.errors.ConnectException: cannot open {SECRET}\n\tat Foo.bar"
    )
    seen: list[tuple[int, list[str]]] = []
    start = harness.now
    for minutes in range(0, 12):
        harness.now = start + minutes * MINUTE
        harness.run()
        if events(harness):
            seen.append((minutes, reasons(harness)))
    assert seen == [(0, ["Failed", "Restarted"]), (2, ["Restarted"]), (8, ["GaveUp"])]


def test_failure_events_carry_the_traces_first_line_redacted_and_the_attempt(
    harness: Harness,
) -> None:
    declare(harness)
    harness.run()
    harness.fake.failed_connectors["sink"] = (
        f"org.apache.kafka.connect.errors.ConnectException: cannot open {SECRET}\n\tat Foo.bar"
    )
    harness.run()
    failed, restarted = events(harness)
    assert failed["type"] == "Warning"
    assert failed["message"] == (
        "connector sink on self-managed: the connector FAILED:"
        " org.apache.kafka.connect.errors.ConnectException: cannot open ****"
    )
    assert restarted["message"] == (
        "connector sink on self-managed: restarted the connector (attempt 1 of 2)"
    )


def test_the_real_hook_writes_events_in_its_patch_file_and_none_when_unchanged(
    operator: ShellOperator,
) -> None:
    operator.put_configmap("sinks", {"a.json": connector_json("a"), "b.json": connector_json("b")})
    run = operator.run()
    assert run.returncode == 0
    created = [
        json.loads(line)["object"] for line in run.patch.splitlines() if '"kind": "Event"' in line
    ]
    assert sorted(e["message"] for e in created) == [
        "connector a on self-managed: created",
        "connector b on self-managed: created",
    ]
    assert all(e["involvedObject"].get("uid") for e in created)
    unchanged = operator.run()
    assert '"Event"' not in unchanged.patch


def test_a_failed_tasks_event_carries_the_tasks_trace_first_line_redacted(
    harness: Harness,
) -> None:
    declare(harness)
    harness.run()
    harness.fake.failed_tasks["sink"] = (
        f"org.apache.kafka.connect.errors.ConnectException: {SECRET} refused\n\tat Task.put"
    )
    harness.run()
    failed, _ = events(harness)
    assert failed["message"] == (
        "connector sink on self-managed: task 0 FAILED:"
        " org.apache.kafka.connect.errors.ConnectException: **** refused"
    )
