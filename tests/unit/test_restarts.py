"""Auto-restart: the n² + n back-off, its bookkeeping in the ledger, and the whole reconcile
against the stateful fake Connect, on an injected wall clock (nothing sleeps)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connect_operator.binding import binding_configuration, read_binding_context
from connect_operator.connect_client import Deadline
from connect_operator.errors import SettingsError
from connect_operator.properties import load_variables
from connect_operator.reconcile import RunReport, reconcile
from connect_operator.report import metric_operations, patch_operations
from connect_operator.restart_policy import RestartPolicy, restart_policy_from_env
from connect_operator.restarts import (
    RestartRecord,
    Verdict,
    decide_restart,
    read_restart_records,
    record_key,
)
from connect_operator.settings import Settings
from connect_operator.template_env import template_environ
from tests.support.fake_clock import FakeClock
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import ObjectStore, group_contexts
from tests.unit.conftest import connector_json

MINUTE = 60.0
POLICY = RestartPolicy(max_attempts=3, backoff_unit=MINUTE, backoff_cap=3600, reset_after=600)


# -- the schedule -----------------------------------------------------------------------------


def test_waits_grow_as_n_squared_plus_n_units_and_are_capped_at_an_hour() -> None:
    policy = RestartPolicy()
    waits = [policy.wait_after(n) / MINUTE for n in range(1, 10)]
    assert waits == [2, 6, 12, 20, 30, 42, 56, 60, 60]


def test_every_attempt_is_due_at_a_fixed_offset_from_the_first() -> None:
    policy = RestartPolicy()
    assert [policy.due_at(1000.0, n) - 1000.0 for n in (1, 2, 3, 4)] == [0, 120, 480, 1200]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, RestartPolicy()),
        ({"CONNECT_OPERATOR_AUTO_RESTART": "false"}, RestartPolicy(enabled=False)),
        ({"CONNECT_OPERATOR_AUTO_RESTART": "TRUE"}, RestartPolicy()),
        (
            {
                "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS": "2",
                "CONNECT_OPERATOR_RESTART_BACKOFF_UNIT": "0.5",
                "CONNECT_OPERATOR_RESTART_BACKOFF_CAP": "3",
                "CONNECT_OPERATOR_RESTART_RESET_AFTER": "7",
            },
            RestartPolicy(max_attempts=2, backoff_unit=0.5, backoff_cap=3, reset_after=7),
        ),
    ],
)
def test_restart_settings_are_read_from_the_environment(
    environ: dict[str, str], expected: RestartPolicy
) -> None:
    assert restart_policy_from_env(environ) == expected
    assert Settings.from_env(environ).restart_policy == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CONNECT_OPERATOR_AUTO_RESTART", "yes"),
        ("CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS", "1.5"),
        ("CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS", "0"),
        ("CONNECT_OPERATOR_RESTART_BACKOFF_UNIT", "-1"),
        ("CONNECT_OPERATOR_RESTART_RESET_AFTER", "soon"),
    ],
)
def test_a_bad_restart_setting_is_an_error_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        restart_policy_from_env({name: value})


# -- the decision -----------------------------------------------------------------------------


def record(first: float, attempts: int, gave_up: bool = False) -> RestartRecord:
    return RestartRecord("t", "c", int(first), attempts, gave_up)


@pytest.mark.parametrize(
    ("before", "failing", "now", "verdict", "after"),
    [
        (None, False, 0, Verdict.NONE, None),
        (None, True, 100, Verdict.RESTART, record(100, 1)),
        (record(100, 1), True, 100 + 119, Verdict.WAIT, record(100, 1)),
        (record(100, 1), True, 100 + 120, Verdict.RESTART, record(100, 2)),
        (record(100, 2), True, 100 + 479, Verdict.WAIT, record(100, 2)),
        (record(100, 2), True, 100 + 480, Verdict.RESTART, record(100, 3)),
        # the last attempt gets its wait too before the connector is given up
        (record(100, 3), True, 100 + 1199, Verdict.WAIT, record(100, 3)),
        (record(100, 3), True, 100 + 1200, Verdict.GIVE_UP, record(100, 3, True)),
        (record(100, 3, True), True, 100 + 99999, Verdict.GIVEN_UP, record(100, 3, True)),
        # healthy: kept until it has stayed so for reset_after after its last attempt
        (record(100, 2), False, 100 + 120 + 599, Verdict.NONE, record(100, 2)),
        (record(100, 2), False, 100 + 120 + 600, Verdict.RESET, None),
        (record(100, 3, True), False, 100 + 480 + 600, Verdict.RESET, None),
    ],
)
def test_the_restart_decision_follows_the_back_off_from_the_first_attempt(
    before: RestartRecord | None,
    failing: bool,
    now: float,
    verdict: Verdict,
    after: RestartRecord | None,
) -> None:
    decision = decide_restart(POLICY, "t", "c", before, failing=failing, now=now)
    assert (decision.verdict, decision.record) == (verdict, after)


def test_with_auto_restart_off_a_failure_is_noticed_once_and_never_restarted() -> None:
    off = RestartPolicy(enabled=False)
    first = decide_restart(off, "t", "c", None, failing=True, now=50)
    assert (first.verdict, first.record) == (Verdict.NOTICED, record(50, 0))
    later = decide_restart(off, "t", "c", first.record, failing=True, now=5000)
    assert (later.verdict, later.record) == (Verdict.NONE, record(50, 0))


def test_a_stale_record_repeats_the_same_attempt_and_never_counts_ahead() -> None:
    # Run A made attempt 2 at 220 and wrote record(100, 2); run B's snapshot still shows
    # record(100, 1): it may send attempt 2 again, but writes exactly what A wrote.
    stale = decide_restart(POLICY, "t", "c", record(100, 1), failing=True, now=230)
    assert (stale.verdict, stale.attempt, stale.record) == (Verdict.RESTART, 2, record(100, 2))


def test_records_round_trip_and_a_broken_one_is_ignored() -> None:
    from connect_operator.binding import ConfigMapView

    good = RestartRecord("http://connect", "sink", 1700000000, 2, True)
    assert RestartRecord.decode(good.encode()) == good
    view = ConfigMapView(
        namespace="default",
        name="connect-operator-ledger",
        labels={},
        data={good.data_key: good.encode(), "r.bad": "{", "c.x": "{}"},
    )
    assert read_restart_records([view]) == {("http://connect", "sink"): good}


# -- the whole reconcile, on an injected clock ------------------------------------------------


@dataclass
class Harness:
    """The reconcile as the hook runs it, in-process: binding context from the store, reconcile
    on the fake Connect with an injected wall clock (`now`, the restart back-off's) and a fake
    monotonic clock (`clock`, the run deadline's and the retry waits'), the patch applied back
    to the store. Nothing really sleeps: each run starts a fresh deadline on `clock`, and every
    retry wait is recorded in `clock.sleeps`."""

    fake: FakeConnect
    env: dict[str, str]
    store: ObjectStore = field(default_factory=ObjectStore)
    now: float = 1_000_000.0
    clock: FakeClock = field(default_factory=FakeClock)

    def run(self) -> RunReport:
        settings = Settings.from_env(self.env)
        contexts = group_contexts(binding_configuration(settings), self.store, "Schedule")
        view = read_binding_context(json.dumps(contexts), settings)
        variables = load_variables(
            settings.config_dir, template_environ(self.env, settings.template_env)
        )
        report = reconcile(
            view,
            variables,
            settings,
            deadline=Deadline(settings.run_deadline, self.clock.monotonic),
            sleep=self.clock.sleep,
            now=lambda: self.now,
        )
        operations = patch_operations(report, settings)
        self.store.apply_patch_text("\n".join(json.dumps(op) for op in operations))
        self.patch = operations
        self.metrics = metric_operations(report, 0.0)
        return report

    def restarts(self) -> list[str]:
        return [r.path for r in self.fake.requests if r.method == "POST"]

    def record(self, connector: str) -> dict[str, Any] | None:
        key = record_key(TARGET, connector)
        for (kind, _, _), obj in self.store.objects.items():
            if kind == "ConfigMap" and key in (obj.get("data") or {}):
                return dict(json.loads(obj["data"][key]))
        return None

    def metric(self, name: str, **labels: str) -> float | None:
        for op in self.metrics:
            if op["name"] == name and op.get("labels", {}) == labels:
                return float(op["value"])
        return None


@pytest.fixture
def harness(fake_connect: FakeConnect, base_env: dict[str, str]) -> Harness:
    env = {
        **base_env,
        "CONNECT_URL": fake_connect.url,
        "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS": "3",
    }
    h = Harness(fake_connect, env)
    h.store.put(configmap("sinks", {"sink.json": connector_json("sink")}))
    return h


def configmap(name: str, data: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"destination": "connect", "enabled": "true"},
        },
        "data": dict(data),
    }


RESTART = "/connectors/sink/restart"
TARGET = "self-managed"


def test_a_failed_task_is_restarted_with_growing_waits_then_given_up(harness: Harness) -> None:
    harness.run()  # creates it
    harness.fake.failed_tasks["sink"] = "org.apache.kafka.connect.errors.ConnectException: boom"
    harness.fake.requests.clear()

    harness.run()
    assert harness.restarts() == [RESTART]
    restart = harness.fake.requests[-1]
    assert restart.query == {"includeTasks": ["true"], "onlyFailed": ["true"]}
    assert harness.record("sink") == {"t": TARGET, "n": "sink", "s": 1_000_000, "a": 1}

    sent_at = []
    for minutes in range(1, 40):  # a run every minute, as the retry schedule may
        harness.now = 1_000_000 + minutes * MINUTE
        before = len(harness.restarts())
        harness.run()
        if len(harness.restarts()) > before:
            sent_at.append(minutes)
    # attempts 2 and 3 after 2 and 2 + 6 minutes; given up once the third's 12 minutes passed
    assert sent_at == [2, 8]
    assert harness.record("sink") == {
        "t": TARGET,
        "n": "sink",
        "s": 1_000_000,
        "a": 3,
        "g": True,
    }
    assert (
        harness.metric(
            "connect_operator_connector_restart_given_up", target=TARGET, connector="sink"
        )
        == 1
    )
    assert (
        harness.metric("connect_operator_connector_restarts", target=TARGET, connector="sink") == 3
    )


def test_the_give_up_is_decided_once_and_nothing_is_written_after_it(harness: Harness) -> None:
    harness.run()
    harness.fake.failed_tasks["sink"] = "boom"
    for minutes in range(0, 25):
        harness.now = 1_000_000 + minutes * MINUTE
        report = harness.run()
    verdicts = [r.verdict for r in report.targets[0].restarts]
    assert verdicts == [Verdict.GIVEN_UP]
    assert harness.patch == []  # an unchanged, given-up connector writes nothing


def test_a_restarted_connector_that_stays_running_has_its_count_reset(harness: Harness) -> None:
    harness.run()
    harness.fake.failed_tasks["sink"] = "boom"
    harness.fake.restart_heals = True
    harness.run()
    assert harness.restarts() == [RESTART]
    assert harness.record("sink") is not None
    harness.now += 599
    harness.run()
    assert harness.record("sink") is not None
    harness.now += 1
    harness.run()
    assert harness.record("sink") is None
    # a new failure starts again at attempt 1, at once
    harness.fake.failed_tasks["sink"] = "boom again"
    harness.run()
    assert harness.restarts() == [RESTART, RESTART]
    assert harness.record("sink") == {"t": TARGET, "n": "sink", "s": 1_000_600, "a": 1}


def test_a_connector_failed_as_a_whole_is_restarted_too(harness: Harness) -> None:
    harness.run()
    harness.fake.failed_connectors["sink"] = "java.lang.RuntimeException: no"
    harness.run()
    assert harness.restarts() == [RESTART]


def test_a_connector_declared_paused_is_never_restarted_even_with_a_failed_task(
    harness: Harness,
) -> None:
    state = "paused"
    program = json.loads(connector_json("sink"))
    program["state"] = state
    harness.store.put(configmap("sinks", {"sink.json": json.dumps(program)}))
    harness.run()
    assert harness.fake.states["sink"] == state.upper()
    # a task that failed before the pause stays FAILED while paused; it is left alone
    harness.fake.failed_tasks["sink"] = "boom"
    harness.fake.requests.clear()
    for minutes in range(0, 10):
        harness.now = 1_000_000 + minutes * MINUTE
        harness.run()
    assert harness.restarts() == []
    assert harness.fake.writes() == []


def test_auto_restart_off_restarts_nothing(harness: Harness) -> None:
    harness.env["CONNECT_OPERATOR_AUTO_RESTART"] = "false"
    harness.run()
    harness.fake.failed_tasks["sink"] = "boom"
    for minutes in range(0, 30):
        harness.now = 1_000_000 + minutes * MINUTE
        harness.run()
    assert harness.restarts() == []


def test_the_record_of_a_connector_no_longer_declared_is_dropped(harness: Harness) -> None:
    harness.run()
    harness.fake.failed_tasks["sink"] = "boom"
    harness.run()
    assert harness.record("sink") is not None
    harness.store.delete("ConfigMap", "default", "sinks")
    harness.run()
    assert "sink" not in harness.fake.connectors
    assert harness.record("sink") is None


def test_a_failed_restart_request_is_tried_again_next_run(harness: Harness) -> None:
    harness.run()
    harness.fake.failed_tasks["sink"] = "boom"
    harness.fake.fail_next("POST", RESTART, (404, "Unknown connector: sink"))
    harness.run()
    assert harness.record("sink") is None
    harness.run()
    assert harness.restarts() == [RESTART, RESTART]
    assert harness.record("sink") is not None


def test_the_restart_record_holds_no_config_value(harness: Harness, tmp_path: Path) -> None:
    harness.run()
    harness.fake.failed_tasks["sink"] = "boom CANARY-SECRET-9b2c=="
    harness.run()
    records = [
        op["mergePatch"]["data"]
        for op in harness.patch
        if op["operation"] == "MergePatch"
        and any(k.startswith("r.") for k in op["mergePatch"]["data"])
    ]
    text = json.dumps(records)
    assert "r." in text
    assert "CANARY" not in text and "boom" not in text
    assert "CANARY" not in json.dumps(harness.patch)  # the Failed Event's trace is redacted
