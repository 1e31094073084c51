"""Reconcile's promises, each stated by one test: through the hook's whole run in process (on a
fake clock), or by calling `reconcile` and `apply` directly against the fake Connect.

- every connector's result is logged once, with its ConfigMap, key, target and result;
- deletes go first, then creates and updates in name order; an unchanged connector gets no call;
- a write that fails fails its connector only, unless Connect went away or refused our
  credentials: then the rest is not attempted (and retried soon only when that may pass);
- what we own after a run: a finished apply records its hash, an unfinished one keeps the old
  entry, an update of a connector we did not own yet is owned with a hash that forces a compare;
- a target that cannot be listed fails alone, with a sentence saying why and when it is retried;
- a connector's health is logged at the level it deserves, its trace redacted and cut;
- a connector declared paused or stopped is created in that state, or set to it right after.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from connect_operator.binding import read_binding_context
from connect_operator.connect_client import ConnectClient, Deadline
from connect_operator.desired import DesiredConnector, Source
from connect_operator.plan import Action, Lifecycle, Result, TargetPlan
from connect_operator.properties import Variables
from connect_operator.reconcile import Outcome, RunReport, apply, reconcile
from connect_operator.settings import Settings
from connect_operator.targets import Target
from tests.support.fake_clock import FakeClock
from tests.support.fake_confluent_cloud import FakeConfluentCloud
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import HookRun, ShellOperator, group_contexts
from tests.unit.test_hook_confluent_cloud import cloud_operator
from tests.unit.test_promises_ledger import managed

TARGET = "self-managed"
LEDGER = "connect-operator-ledger"
RECONCILE = "connect_operator.reconcile"


def document(name: str, state: str | None = None, **config: str) -> str:
    """A connector ConfigMap value with literal values (a FileStream sink unless told)."""
    body: dict[str, Any] = {
        "name": name,
        "config": {"connector.class": "FileStreamSink", "topics": "t", **config},
    }
    if state is not None:
        body["state"] = state
    return json.dumps(body)


def reconcile_lines(run: HookRun) -> list[dict[str, Any]]:
    """The log lines reconcile itself printed (not the client's, not the hook's summary)."""
    return [line for line in run.log_lines() if line["logger"] == RECONCILE]


def line(level: str, msg: str, **fields: str) -> dict[str, Any]:
    """A log line as the hook prints it: level, msg, logger, then the context fields."""
    return {"level": level, "msg": msg, "logger": RECONCILE, **fields}


def context(connector: str, configmap: str, key: str, action: str) -> dict[str, str]:
    return {
        "configmap": f"default/{configmap}",
        "key": key,
        "connector": connector,
        "target": TARGET,
        "action": action,
    }


def owned(operator: ShellOperator) -> dict[str, str]:
    """connector -> last applied hash, as an independent reader of the ledger sees it."""
    ledger = operator.ledger()
    return {} if ledger is None else {e["connector"]: e["hash"] for e in ledger["entries"]}


def retry_list(operator: ShellOperator) -> list[str]:
    """The targets the last run asked the `retry` schedule to reconcile again."""
    ledger = operator.store.get("ConfigMap", "default", LEDGER)
    assert ledger is not None
    retry: list[str] = json.loads(ledger["data"]["status.json"])["retry"]
    return retry


def reconcile_in_test(
    operator: ShellOperator,
    *,
    dry_run: bool = False,
    now: float = 1_700_000_000.0,
    variables: Variables | None = None,
) -> RunReport:
    """`reconcile` called directly on the operator's store, waiting on its fake clock."""
    settings = Settings.from_env(operator.env)
    view = read_binding_context(
        json.dumps(group_contexts(operator.config(), operator.store)), settings
    )
    clock = operator.clock
    return reconcile(
        view,
        variables or Variables(),
        settings,
        deadline=Deadline(settings.run_deadline, clock.monotonic),
        sleep=clock.sleep,
        now=lambda: now,
        dry_run=dry_run,
    )


def outcome_of(report: RunReport, connector: str) -> Outcome:
    (found,) = [o for o in report.outcomes if o.connector == connector]
    return found


@pytest.fixture
def debug_operator(operator: ShellOperator) -> ShellOperator:
    """The in-process operator, logging at debug level (unchanged connectors are debug)."""
    operator.env["CONNECT_OPERATOR_LOG_LEVEL"] = "debug"
    return operator


# -- every result is logged once, with where it comes from ----------------------------------


def test_each_result_is_logged_once_naming_the_configmap_key_target_and_result(
    debug_operator: ShellOperator,
) -> None:
    operator = debug_operator
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "abcd"})
    first = operator.run()
    assert reconcile_lines(first) == [
        line(
            "info",
            f"connector {n} has been created: declared and missing",
            **context(n, "m", f"{n}.json", "created"),
        )
        for n in "abcd"
    ]
    operator.put_configmap(
        "m",
        {
            "a.json": document("a", topics="two", **{"tasks.max": "2"}),
            "c.json": document("c"),
            "d.json": document("d"),
        },
    )

    second = operator.run()

    assert reconcile_lines(second) == [
        line(
            "info",
            "connector b has been deleted: no longer declared by ConfigMap default/m key b.json",
            **context("b", "m", "b.json", "deleted"),
        ),
        line(
            "info",
            "connector a has been updated: config differs (keys: tasks.max, topics)",
            **context("a", "m", "a.json", "updated"),
        ),
        line("debug", "connector c has been unchanged", **context("c", "m", "c.json", "unchanged")),
        line("debug", "connector d has been unchanged", **context("d", "m", "d.json", "unchanged")),
    ]


def test_a_rejected_config_is_logged_as_an_error_saying_what_it_failed_to_do(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    fake_connect.fail_next("PUT", "/connectors/a/config", (400, "topics is not allowed here"))

    run = operator.run()

    assert run.returncode == 0
    assert sorted(fake_connect.connectors) == ["b"]
    assert reconcile_lines(run) == [
        line(
            "error",
            "connector a has failed to be created: PUT /connectors/a/config -> 400:"
            " topics is not allowed here",
            **context("a", "m", "a.json", "failed"),
        ),
        line(
            "info",
            "connector b has been created: declared and missing",
            **context("b", "m", "b.json", "created"),
        ),
    ]
    assert retry_list(operator) == []  # a rejection waits for a change, not for a minute


# -- the order of the writes ------------------------------------------------------------------


def test_deletes_go_first_then_creates_and_updates_in_name_order_and_unchanged_get_no_call(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap(
        "m", {f"{n}.json": document(n) for n in ("b-update", "d-delete", "e-same")}
    )
    assert operator.run().returncode == 0
    operator.put_configmap(
        "m",
        {
            "b-update.json": document("b-update", topics="two"),
            "a-create.json": document("a-create"),
            "c-create.json": document("c-create"),
            "e-same.json": document("e-same"),
        },
    )
    fake_connect.requests.clear()

    assert operator.run().returncode == 0

    assert [(r.method, r.path) for r in fake_connect.writes()] == [
        ("DELETE", "/connectors/d-delete"),
        ("PUT", "/connectors/a-create/config"),
        ("PUT", "/connectors/b-update/config"),
        ("PUT", "/connectors/c-create/config"),
    ]


# -- a failed write fails its connector; some failures stop the rest --------------------------


def test_a_rejected_write_fails_only_its_connector_and_the_others_are_still_written(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "abc"})
    fake_connect.fail_next("PUT", "/connectors/a/config", (400, "bad a"))

    report = reconcile_in_test(operator)

    assert sorted(fake_connect.connectors) == ["b", "c"]
    source = Source("default/m", "a.json")
    assert outcome_of(report, "a") == Outcome(
        Result.FAILED,
        TARGET,
        "a",
        source,
        "PUT /connectors/a/config -> 400: bad a",
        temporary=False,
        changed_keys=(),
        planned=Result.CREATED,
    )
    assert outcome_of(report, "b") == Outcome(
        Result.CREATED,
        TARGET,
        "b",
        Source("default/m", "b.json"),
        "declared and missing",
        planned=Result.CREATED,
    )
    assert report.retry_targets == ()
    assert report.exit_code == 0


def test_a_write_that_keeps_failing_for_a_while_fails_its_connector_and_is_retried_soon(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_RUN_DEADLINE"] = "100"  # time for every retry
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "ab"})
    # Every try of a's PUT meets a rebalance; the retries give up, b is still written.
    fake_connect.fail_next("PUT", "/connectors/a/config", *[(409, "rebalance in progress")] * 10)

    report = reconcile_in_test(operator)

    assert sorted(fake_connect.connectors) == ["b"]
    failed = outcome_of(report, "a")
    assert (failed.result, failed.temporary, failed.planned) == (
        Result.FAILED,
        True,
        Result.CREATED,
    )
    assert failed.message == "PUT /connectors/a/config -> 409: rebalance in progress"
    assert outcome_of(report, "b").result is Result.CREATED
    assert report.retry_targets == (TARGET,)
    assert report.exit_code == 1


def test_refused_credentials_stop_the_remaining_writes_which_wait_for_the_resync(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "abc"})
    fake_connect.fail_next("PUT", "/connectors/a/config", (401, "Unauthorized"))

    report = reconcile_in_test(operator)

    assert fake_connect.connectors == {}
    assert [(r.method, r.path) for r in fake_connect.writes()] == [("PUT", "/connectors/a/config")]
    refused = outcome_of(report, "a")
    assert (refused.result, refused.temporary) == (Result.FAILED, False)
    for name in "bc":
        skipped = outcome_of(report, name)
        assert skipped.result is Result.FAILED
        assert skipped.message == f"not attempted: {refused.message}"
        assert skipped.temporary is False
        assert skipped.planned is Result.CREATED
    assert report.retry_targets == ()


def test_writes_after_connect_stopped_answering_are_not_attempted_and_retried_soon(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "abc"})
    # 503 on every try until the run's deadline cuts a's PUT short.
    fake_connect.fail_next("PUT", "/connectors/", *[(503, "unavailable")] * 1000)

    report = reconcile_in_test(operator)

    assert fake_connect.connectors == {}
    assert {r.path for r in fake_connect.writes()} == {"/connectors/a/config"}
    first = outcome_of(report, "a")
    assert (first.result, first.temporary) == (Result.FAILED, True)
    assert first.message.startswith("run deadline passed before PUT /connectors/a/config")
    for name in "bc":
        skipped = outcome_of(report, name)
        assert (skipped.result, skipped.temporary) == (Result.FAILED, True)
        assert skipped.message == f"not attempted: {first.message}"
    assert report.retry_targets == (TARGET,)


# -- apply, called directly ------------------------------------------------------------------


def desired(target: Target, name: str, **config: str) -> DesiredConnector:
    return DesiredConnector(
        target=target,
        name=name,
        config={"connector.class": "FileStreamSink", "topics": "t", **config},
        secret_keys=frozenset(),
        source=Source("default/m", f"{name}.json"),
        enabled=True,
    )


def action(
    kind: Result,
    connector: DesiredConnector,
    lifecycle: Lifecycle | None = None,
    changed_keys: tuple[str, ...] = (),
) -> Action:
    return Action(
        kind,
        connector.target.id,
        connector.name,
        "because",
        connector.source,
        connector,
        changed_keys,
        lifecycle,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def client_of(fake: FakeConnect, clock: FakeClock, seconds: float = 20.0) -> ConnectClient:
    return ConnectClient(fake.url, deadline=Deadline(seconds, clock.monotonic), sleep=clock.sleep)


def test_a_connector_unreachable_mid_apply_leaves_the_rest_not_attempted_and_temporary(
    clock: FakeClock,
) -> None:
    target = Target(TARGET, "http://127.0.0.1:9")  # discard port: nothing listens
    client = ConnectClient(
        target.base_url, deadline=Deadline(20.0, clock.monotonic), sleep=clock.sleep
    )
    a, b = desired(target, "a"), desired(target, "b")
    plan = TargetPlan(TARGET, (action(Result.CREATED, a), action(Result.CREATED, b)))

    outcomes = apply(plan, client)

    assert [o.connector for o in outcomes] == ["a", "b"]
    assert outcomes[0].result is Result.FAILED and outcomes[0].temporary
    assert "cannot reach" in outcomes[0].message
    assert outcomes[1] == Outcome(
        Result.FAILED,
        TARGET,
        "b",
        b.source,
        f"not attempted: {outcomes[0].message}",
        temporary=True,
        planned=Result.CREATED,
    )


# -- what we own after a run -----------------------------------------------------------------


def ledger_entries(operator: ShellOperator) -> dict[str, dict[str, str]]:
    """connector -> its whole ledger entry, as an independent reader sees it."""
    ledger = operator.ledger()
    return {} if ledger is None else {e["connector"]: e for e in ledger["entries"]}


def stored_rejections(operator: ShellOperator) -> list[str]:
    """The data keys of remembered rejections in every ledger ConfigMap."""
    return [
        key
        for (kind, _, name), obj in operator.store.objects.items()
        if kind == "ConfigMap" and name.startswith(LEDGER)
        for key in obj.get("data") or {}
        if key.startswith("x.")
    ]


def test_a_created_connector_is_owned_with_where_it_is_declared_its_class_and_hashes(
    operator: ShellOperator,
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0

    entry = ledger_entries(operator)["a"]

    assert {k: v for k, v in entry.items() if k not in ("hash", "inputs")} == {
        "target": TARGET,
        "connector": "a",
        "configmap": "default/m",
        "key": "a.json",
        "connector_class": "FileStreamSink",
    }
    assert entry["hash"].startswith("sha256:") and entry["inputs"].startswith("sha256:")
    assert entry["hash"] != entry["inputs"]


def test_a_create_that_fails_owns_nothing(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    fake_connect.fail_next("PUT", "/connectors/a/config", (400, "bad a"))

    assert operator.run().returncode == 0

    assert set(owned(operator)) == {"b"}


def test_a_failed_update_keeps_the_whole_old_entry_so_the_render_cache_does_not_skip_it(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a", topics="one")})
    assert operator.run().returncode == 0
    before = ledger_entries(operator)["a"]
    operator.put_configmap("m", {"a.json": document("a", topics="two")})
    fake_connect.fail_next("PUT", "/connectors/a/config", (400, "bad a"))

    assert operator.run().returncode == 0

    assert ledger_entries(operator)["a"] == before  # old hash and old inputs, together


def test_a_connector_moved_to_another_configmap_is_owned_by_it_even_when_its_update_fails(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_RUN_DEADLINE"] = "100"  # time for every retry
    operator.put_configmap("m", {"a.json": document("a", topics="one")})
    assert operator.run().returncode == 0
    before = ledger_entries(operator)["a"]
    operator.delete_configmap("m")
    operator.put_configmap("n", {"moved.json": document("a", topics="two")})
    fake_connect.fail_next("PUT", "/connectors/a/config", *[(409, "rebalance")] * 10)

    assert operator.run().returncode == 0

    assert fake_connect.connectors["a"]["topics"] == "one"
    assert ledger_entries(operator)["a"] == {
        **before,
        "configmap": "default/n",
        "key": "moved.json",
    }


def test_an_update_of_a_connector_we_did_not_own_that_fails_is_owned_to_be_compared_in_full(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_RUN_DEADLINE"] = "100"  # time for every retry
    fake_connect.connectors["a"] = {"connector.class": "FileStreamSink", "topics": "old"}
    operator.put_configmap("m", {"a.json": document("a", topics="new")})
    fake_connect.fail_next("PUT", "/connectors/a/config", *[(409, "rebalance")] * 10)

    assert operator.run().returncode == 0

    entry = ledger_entries(operator)["a"]
    assert entry["hash"] == "unapplied"
    assert (entry["configmap"], entry["key"], entry["connector_class"]) == (
        "default/m",
        "a.json",
        "FileStreamSink",
    )
    # The next run compares the configs in full and finishes the update.
    assert operator.run().returncode == 0
    assert fake_connect.connectors["a"]["topics"] == "new"
    assert owned(operator)["a"].startswith("sha256:")


def test_a_connector_disabled_and_deleted_is_no_longer_owned(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    operator.put_configmap(
        "m", {"a.json": document("a"), "b.json": document("b")}, {"destination": "connect"}
    )

    assert operator.run().returncode == 0

    assert fake_connect.connectors == {}
    assert owned(operator) == {}


def test_a_disabled_connector_whose_delete_fails_stays_owned_as_it_was(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    before = ledger_entries(operator)["a"]
    operator.put_configmap("m", {"a.json": document("a")}, {"destination": "connect"})
    fake_connect.fail_next("DELETE", "/connectors/a", (400, "cannot delete"))

    assert operator.run().returncode == 0

    assert "a" in fake_connect.connectors
    assert ledger_entries(operator) == {"a": before}
    assert stored_rejections(operator) == []  # a refused delete is no rejected config


def test_a_target_that_cannot_be_listed_keeps_everything_it_owns(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    before = ledger_entries(operator)
    operator.delete_configmap("m")
    fake_connect.fail_next("GET", "/connectors", (401, "Unauthorized"))

    assert operator.run().returncode == 0

    assert sorted(fake_connect.connectors) == ["a", "b"]
    assert ledger_entries(operator) == before


# -- a target that cannot be listed fails alone ----------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_a_target_that_refuses_our_credentials_says_so_and_waits_for_the_resync(
    operator: ShellOperator, fake_connect: FakeConnect, status: int
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    fake_connect.fail_next("GET", "/connectors", (status, "go away"))

    run = operator.run()

    failure = (
        f"target self-managed: it refuses our credentials ({status}): check CONNECT_REST_KEY and"
        " CONNECT_REST_SECRET (Confluent Cloud) or the Connect URL's auth;"
        " not retried before the next resync or change"
    )
    assert reconcile_lines(run) == [line("error", failure, target=TARGET, action="failed")]
    assert retry_list(operator) == []
    assert operator.metric("connect_operator_target_failed", target=TARGET, kind="permanent") == 1
    assert operator.metric("connect_operator_connectors", target=TARGET, result="failed") == 1


def test_a_target_that_does_not_answer_is_reported_with_its_error_and_retried_soon(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_RUN_DEADLINE"] = "100"  # time for every retry
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    fake_connect.fail_next("GET", "/connectors", *[(503, "worker restarting")] * 10)

    report = reconcile_in_test(operator)

    (target,) = report.targets
    assert target.failure == (
        "target self-managed: cannot list connectors: GET /connectors -> 503: worker restarting;"
        " retried within a minute (CONNECT_OPERATOR_RETRY_SCHEDULE)"
    )
    assert not target.failure_is_permanent
    assert report.outcomes == [
        Outcome(
            Result.FAILED,
            TARGET,
            n,
            Source("default/m", f"{n}.json"),
            "target unavailable",
            temporary=True,
        )
        for n in "ab"
    ]
    assert report.retry_targets == (TARGET,)


def test_a_target_that_answers_404_to_the_listing_is_a_permanent_failure_with_its_error(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    fake_connect.fail_next("GET", "/connectors", (404, "no such path"))

    report = reconcile_in_test(operator)

    (target,) = report.targets
    assert target.failure == (
        "target self-managed: cannot list connectors: GET /connectors -> 404: no such path;"
        " not retried before the next resync or change"
    )
    assert target.failure_is_permanent
    assert outcome_of(report, "a").temporary is False
    assert report.retry_targets == ()


def test_a_ledger_target_that_cannot_be_rebuilt_keeps_its_connectors_owned_and_says_why(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    from connect_operator.ledger import LedgerEntry, encode_entry, entry_key

    cloud = "confluent-cloud/env-1/lkc-1"
    entries = [
        LedgerEntry(cloud, name, "default/gone", f"{name}.json", "sha256:1", "DatagenSource")
        for name in ("x", "y")
    ]
    operator.put_configmap(
        LEDGER,
        {entry_key(e.target, e.connector): encode_entry(e) for e in entries},
        {"app.kubernetes.io/managed-by": "connect-operator"},
    )
    operator.put_configmap("m", {"a.json": document("a")})

    run = operator.run()

    assert run.returncode == 0
    failure = (
        f"target {cloud} of 2 owned connectors cannot be reached: Confluent Cloud target needs"
        " CONNECT_REST_KEY and CONNECT_REST_SECRET to be set; its connectors stay owned, and are"
        " not retried before the next resync"
    )
    assert line("error", failure, target=cloud, action="failed") in reconcile_lines(run)
    assert set(owned(operator)) == {"a", "x", "y"}
    assert retry_list(operator) == []
    assert operator.metric("connect_operator_target_failed", target=cloud, kind="permanent") == 1
    assert operator.metric("connect_operator_target_up", target=TARGET) == 1


def test_the_render_caches_listing_waits_out_its_retries_on_the_injected_sleep(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    # Nothing changed, so the render cache lists the target before anything is planned.
    fake_connect.fail_next("GET", "/connectors", *[(503, "busy")] * 4)
    waited = len(operator.clock.sleeps)
    fake_connect.requests.clear()

    run = operator.run()

    assert run.returncode == 0
    assert operator.clock.sleeps[waited:] == [0.2, 0.4, 0.8, 1.6]
    assert fake_connect.writes() == []


# -- each connector's health, at the level it deserves ---------------------------------------


def health(connector: str, level: str, msg: str) -> dict[str, Any]:
    """A health line: the connector's ConfigMap, key and target, no action."""
    return line(
        level,
        msg,
        configmap="default/m",
        key=f"{connector}.json",
        connector=connector,
        target=TARGET,
    )


def test_a_failed_connector_is_an_error_with_its_trace_and_its_failed_tasks(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    fake_connect.failed_connectors["a"] = "java.lang.IllegalStateException: boom"
    fake_connect.failed_tasks["a"] = "task trace"

    run = operator.run()

    assert reconcile_lines(run) == [
        health(
            "a",
            "error",
            "connector a is FAILED with failed tasks [0]: java.lang.IllegalStateException: boom",
        ),
    ]


def test_a_failed_connectors_trace_is_cut_to_its_first_two_thousand_characters(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    fake_connect.failed_connectors["a"] = "x" * 1990 + "0123456789" + "not shown"

    run = operator.run()

    (failed,) = reconcile_lines(run)
    assert failed["msg"] == "connector a is FAILED: " + "x" * 1990 + "0123456789"


def test_failed_tasks_of_a_running_connector_are_a_warning(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    fake_connect.failed_tasks["a"] = "task trace"

    run = operator.run()

    assert reconcile_lines(run) == [
        health("a", "warn", "connector a is RUNNING with failed tasks [0]")
    ]


def test_a_paused_connector_is_information_and_a_running_one_says_nothing(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    fake_connect.states["b"] = "PAUSED"
    # A connector created in this run comes first, and has no health to tell yet; then a
    # running one, that has nothing to tell.
    operator.put_configmap(
        "m", {"0.json": document("new"), "a.json": document("a"), "b.json": document("b")}
    )

    run = operator.run()

    assert reconcile_lines(run)[-1:] == [health("b", "info", "connector b is PAUSED")]
    assert not any(line["msg"].startswith("connector a is") for line in reconcile_lines(run))


def test_a_disabled_or_missing_connector_has_no_health_line(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    fake_connect.failed_connectors["a"] = "boom"
    operator.put_configmap("m", {"a.json": document("a")}, {"destination": "connect"})
    fake_connect.fail_next("DELETE", "/connectors/a", (400, "cannot delete"))

    run = operator.run()

    assert [line["msg"] for line in reconcile_lines(run)] == [
        "connector a has failed to be deleted: DELETE /connectors/a -> 400: cannot delete"
    ]


def observed_health(
    client: ConnectClient,
    observed: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    names: tuple[str, ...] = ("a",),
) -> list[tuple[str, str, dict[str, str]]]:
    """What `_log_observed_health` logs for these connectors, declared in default/m."""
    from connect_operator.reconcile import _log_observed_health

    target = Target(TARGET, client.base_url)
    caplog.clear()
    with caplog.at_level("DEBUG", logger=RECONCILE):
        _log_observed_health(target, client, observed, [desired(target, n) for n in names])
    fields = ("configmap", "key", "connector", "target", "action")
    return [
        (
            record.levelname,
            record.getMessage(),
            {f: getattr(record, f) for f in fields if hasattr(record, f)},
        )
        for record in caplog.records
        if record.name == RECONCILE
    ]


WHERE = {"configmap": "default/m", "key": "a.json", "connector": "a", "target": TARGET}


def test_a_failed_connector_listed_without_a_trace_gets_it_from_its_status(
    fake_connect: FakeConnect, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from connect_operator.connect_client import ObservedConnector

    fake_connect.connectors["a"] = {"connector.class": "FileStreamSink", "topics": "t"}
    fake_connect.failed_connectors["a"] = "trace from the status endpoint"
    listed = ObservedConnector("a", {}, state="FAILED", trace=None)

    logged = observed_health(client_of(fake_connect, clock), {"a": listed}, caplog)

    assert logged == [("ERROR", "connector a is FAILED: trace from the status endpoint", WHERE)]
    assert [(r.method, r.path) for r in fake_connect.requests] == [("GET", "/connectors/a/status")]


def test_a_failed_connector_whose_status_cannot_be_read_says_so(
    fake_connect: FakeConnect, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from connect_operator.connect_client import ObservedConnector

    listed = ObservedConnector("a", {}, state="FAILED", trace=None)

    logged = observed_health(client_of(fake_connect, clock), {"a": listed}, caplog)

    assert logged == [
        (
            "ERROR",
            "connector a is FAILED: its status could not be read: GET /connectors/a/status"
            " -> 404: No status found for a",
            WHERE,
        )
    ]


def test_a_failed_connector_with_no_trace_anywhere_says_the_server_gave_no_reason(
    fake_connect: FakeConnect, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from connect_operator.connect_client import ObservedConnector

    fake_connect.connectors["a"] = {"connector.class": "FileStreamSink", "topics": "t"}
    listed = ObservedConnector("a", {}, state="FAILED", trace="")

    logged = observed_health(client_of(fake_connect, clock), {"a": listed}, caplog)

    assert logged == [("ERROR", "connector a is FAILED: the server gave no reason", WHERE)]


@pytest.mark.parametrize(
    ("state", "tasks", "expected"),
    [
        ("DEGRADED", (), ("WARNING", "connector a is DEGRADED with failed tasks []")),
        (
            "PROVISIONING",
            (),
            ("INFO", "connector a is PROVISIONING: Confluent Cloud is still setting it up"),
        ),
        ("PAUSED", ((0, "PAUSED"),), ("INFO", "connector a is PAUSED")),
        ("PAUSED", ((0, "FAILED"),), ("WARNING", "connector a is PAUSED with failed tasks [0]")),
    ],
)
def test_each_state_is_logged_at_its_level(
    fake_connect: FakeConnect,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    state: str,
    tasks: tuple[tuple[int, str], ...],
    expected: tuple[str, str],
) -> None:
    from connect_operator.connect_client import ObservedConnector

    listed = ObservedConnector("a", {}, state=state, tasks=tasks)

    logged = observed_health(client_of(fake_connect, clock), {"a": listed}, caplog)

    assert logged == [(*expected, WHERE)]
    assert fake_connect.requests == []


def test_a_status_that_cannot_be_read_is_a_warning_and_nothing_else(
    fake_connect: FakeConnect, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    from connect_operator.connect_client import ObservedConnector

    listed = ObservedConnector("a", {}, state="FAILED", status_problem="no state field")
    paused = ObservedConnector("b", {}, state="PAUSED")

    logged = observed_health(
        client_of(fake_connect, clock), {"a": listed, "b": paused}, caplog, ("a", "b")
    )

    assert logged == [
        ("WARNING", "connector a has a status that cannot be read: no state field", WHERE),
        ("INFO", "connector b is PAUSED", {**WHERE, "key": "b.json", "connector": "b"}),
    ]
    assert fake_connect.requests == []


# -- the declared state: created in it, or set to it right after -----------------------------


def lifecycle_calls(fake: FakeConnect) -> list[tuple[str, str, Any]]:
    return [
        (r.method, r.path, r.body.get("initial_state") if isinstance(r.body, dict) else None)
        for r in fake.writes()
    ]


@pytest.mark.parametrize(("state", "initial"), [("paused", "PAUSED"), ("stopped", "STOPPED")])
def test_a_connector_declared_paused_or_stopped_is_created_in_that_state(
    operator: ShellOperator, fake_connect: FakeConnect, state: str, initial: str
) -> None:
    operator.put_configmap("m", {"a.json": document("a", state=state)})

    assert operator.run().returncode == 0

    assert lifecycle_calls(fake_connect) == [("POST", "/connectors", initial)]
    assert fake_connect.states == {"a": initial}


@pytest.mark.parametrize(("state", "call"), [("paused", "pause"), ("stopped", "stop")])
def test_on_a_connect_without_initial_state_it_is_created_then_set_to_its_state(
    operator: ShellOperator, fake_connect: FakeConnect, state: str, call: str
) -> None:
    fake_connect.version = "3.6.2"
    operator.put_configmap("m", {"a.json": document("a", state=state)})

    assert operator.run().returncode == 0

    assert lifecycle_calls(fake_connect) == [
        ("PUT", "/connectors/a/config", None),
        ("PUT", f"/connectors/a/{call}", None),
    ]


@pytest.mark.parametrize(
    ("before", "state", "call"),
    [(None, "paused", "pause"), (None, "stopped", "stop"), ("PAUSED", "running", "resume")],
)
def test_an_existing_connector_is_set_to_its_declared_state_after_its_config(
    operator: ShellOperator,
    fake_connect: FakeConnect,
    before: str | None,
    state: str,
    call: str,
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    if before:
        fake_connect.states["a"] = before
    operator.put_configmap("m", {"a.json": document("a", state=state, topics="two")})
    fake_connect.requests.clear()

    assert operator.run().returncode == 0

    assert lifecycle_calls(fake_connect) == [
        ("PUT", "/connectors/a/config", None),
        ("PUT", f"/connectors/a/{call}", None),
    ]


def test_initial_state_is_asked_only_for_a_create_that_declares_pause_or_stop(
    fake_connect: FakeConnect, clock: FakeClock
) -> None:
    from connect_operator.reconcile import initial_state

    client = client_of(fake_connect, clock)
    a = desired(Target(TARGET, fake_connect.url), "a")
    assert initial_state(action(Result.CREATED, a), client) == ""
    assert initial_state(action(Result.UPDATED, a, Lifecycle.PAUSE), client) == ""
    assert initial_state(action(Result.CREATED, a, Lifecycle.RESUME), client) == ""
    assert fake_connect.requests == []  # none of these asked the worker's version
    assert initial_state(action(Result.CREATED, a, Lifecycle.PAUSE), client) == "PAUSED"
    assert initial_state(action(Result.CREATED, a, Lifecycle.STOP), client) == "STOPPED"
    fake_connect.version = "3.6.2"
    older = client_of(fake_connect, clock)
    assert initial_state(action(Result.CREATED, a, Lifecycle.PAUSE), older) == ""


# -- what is reported instead of done --------------------------------------------------------


def test_an_owned_connector_someone_replaced_is_not_pruned_but_reported_as_failed(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    fake_connect.connectors["a"]["connector.class"] = "FileStreamSource"
    operator.put_configmap("m", {"b.json": document("b")})

    run = operator.run()
    report = reconcile_in_test(operator)

    message = (
        "not deleted although ConfigMap default/m key a.json no longer declares it: its class is"
        " now 'FileStreamSource', we applied 'FileStreamSink'; someone replaced it. Delete it by"
        " hand if it should go, or declare it again"
    )
    assert reconcile_lines(run) == [
        line(
            "error",
            f"connector a has failed to be deleted: {message}",
            connector="a",
            target=TARGET,
            action="failed",
            configmap="default/m",
            key="a.json",
        )
    ]
    assert "a" in fake_connect.connectors
    assert set(owned(operator)) == {"a", "b"}
    assert outcome_of(report, "a") == Outcome(
        Result.FAILED, TARGET, "a", Source("default/m", "a.json"), message
    )


def test_a_refused_mass_deletion_is_logged_with_the_limit_and_how_to_lift_it(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.env["CONNECT_OPERATOR_MAX_DELETES"] = "2"
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "abc"})
    assert operator.run().returncode == 0
    operator.delete_configmap("m")

    run = operator.run()

    assert reconcile_lines(run) == [
        line(
            "error",
            "refusing to delete 3 connectors on self-managed in one run"
            " (CONNECT_OPERATOR_MAX_DELETES=2): a, b, c; nothing was deleted. If these deletions"
            " are intended, set CONNECT_OPERATOR_MAX_DELETES=3 (or -1 for no limit) on the"
            " operator for one run, then set it back; or delete in batches of at most 2",
            target=TARGET,
            action="refused",
        )
    ]
    assert sorted(fake_connect.connectors) == ["a", "b", "c"]


def test_a_key_that_is_not_a_connector_is_an_error_naming_its_configmap_and_key(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"bad.json": '{"name": "x"}', "b.json": document("b")})

    run = operator.run()
    report = reconcile_in_test(operator)

    (error,) = report.declaration_errors
    assert (error.result, error.target_id, error.connector, error.source) == (
        Result.FAILED,
        None,
        None,
        Source("default/m", "bad.json"),
    )
    assert error.message
    assert reconcile_lines(run)[0] == line(
        "error",
        f"ConfigMap default/m key bad.json is not a connector: {error.message}",
        configmap="default/m",
        key="bad.json",
        action="failed",
    )
    assert "b" in fake_connect.connectors
    assert operator.metric("connect_operator_declaration_errors") == 1


# -- a dry run -------------------------------------------------------------------------------


def test_a_dry_run_reports_what_would_happen_and_sends_no_write_nor_validation(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    operator.put_configmap("m", {"a.json": document("a", topics="two"), "c.json": document("c")})
    fake_connect.failed_connectors["a"] = "boom"  # a run would restart it
    fake_connect.requests.clear()

    report = reconcile_in_test(operator, dry_run=True)

    assert [(r.method, r.path) for r in fake_connect.requests] == [("GET", "/connectors")]
    assert report.dry_run
    assert sorted(report.outcomes, key=lambda o: o.connector or "") == [
        Outcome(
            Result.UPDATED,
            TARGET,
            "a",
            Source("default/m", "a.json"),
            "config differs",
            changed_keys=("topics",),
            planned=Result.UPDATED,
        ),
        Outcome(
            Result.DELETED,
            TARGET,
            "b",
            Source("default/m", "b.json"),
            "no longer declared by ConfigMap default/m key b.json",
            planned=Result.DELETED,
        ),
        Outcome(
            Result.CREATED,
            TARGET,
            "c",
            Source("default/m", "c.json"),
            "declared and missing",
            planned=Result.CREATED,
        ),
    ]
    (target,) = report.targets
    assert target.restarts == []
    assert report.restart_changes is None and report.rejections_after == {}


# -- what the report carries for the hook's outputs ------------------------------------------


def test_the_report_carries_the_configmaps_uids_the_wall_clock_and_each_targets_requests(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    uid = operator.store.objects[("ConfigMap", "default", "m")]["metadata"]["uid"]

    report = reconcile_in_test(operator)

    assert report.uids == {"default/m": uid}
    assert report.wall_time == 1_700_000_000.0
    (target,) = report.targets
    # the listing, the worker's plugins for validation, then two validations and two PUTs
    assert target.requests_sent == len(fake_connect.requests)
    assert report.status is not None and report.status.retry_targets == ()
    assert report.ledger_changes is not None


# -- several targets: each gets its share of the run's deadline ------------------------------


CLOUD_TARGET = "confluent-cloud/env-123/lkc-456"
CLOUD_LABELS = {"destination": "connect", "enabled": "true", "destination.cc": "orders-cluster"}


@pytest.fixture
def two_targets(
    base_env: dict[str, str], tmp_path: Path, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> ShellOperator:
    """Connector `gen` on Confluent Cloud (listed first: its id sorts first) and `a` on the
    self-managed Connect."""
    operator = cloud_operator(base_env, tmp_path, cloud, fake_connect)
    operator.put_configmap("a-cloud", {"gen.json": managed("gen", "orders")}, CLOUD_LABELS)
    operator.put_configmap("m", {"a.json": document("a")})
    return operator


def test_a_target_that_keeps_failing_cannot_use_up_the_deadline_of_the_next_one(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    operator = two_targets
    cloud.fail_next("GET", "/connectors", *[(503, {"error_code": 503, "message": "x"})] * 1000)
    started = operator.clock.now

    run = operator.run()

    assert run.returncode == 0
    assert "a" in fake_connect.connectors
    assert cloud.connectors == {}
    assert retry_list(operator) == [CLOUD_TARGET]
    # Confluent Cloud had half the run's 20 s; the self-managed target's turn needed no wait.
    assert operator.clock.now - started == pytest.approx(10.0)


def test_the_render_caches_listings_share_the_deadline_between_targets_too(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    operator = two_targets
    assert operator.run().returncode == 0
    assert retry_list(operator) == []
    cloud.fail_next("GET", "/connectors", *[(503, {"error_code": 503, "message": "x"})] * 1000)
    fake_connect.requests.clear()
    started = operator.clock.now

    run = operator.run()

    assert run.returncode == 0
    assert retry_list(operator) == [CLOUD_TARGET]
    assert [(r.method, r.path) for r in fake_connect.requests] == [("GET", "/connectors")]
    unchanged = operator.metric("connect_operator_connectors", target=TARGET, result="unchanged")
    assert unchanged == 1
    assert operator.clock.now - started == pytest.approx(10.0)


def test_a_confluent_cloud_cluster_that_is_not_there_is_a_permanent_failure_saying_so(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    cloud.fail_next("GET", "/connectors", (404, {"error_code": 404, "message": "Not Found"}))

    report = reconcile_in_test(two_targets)

    failed = next(t for t in report.targets if t.target.id == CLOUD_TARGET)
    assert failed.failure == (
        f"target {CLOUD_TARGET}: Confluent Cloud knows no such environment or cluster (404):"
        " check its ConfigMap; not retried before the next resync or change"
    )
    assert report.retry_targets == ()
    assert "a" in fake_connect.connectors


def test_the_confluent_cloud_secret_is_masked_wherever_the_run_logs() -> None:
    from connect_operator.reconcile import secrets_redactor

    settings = Settings.from_env(
        {"CONNECT_REST_KEY": "CLOUDKEY", "CONNECT_REST_SECRET": "CLOUD-SECRET-1234"}
    )
    without = Settings.from_env({})

    assert "CLOUD-SECRET-1234" not in secrets_redactor(Variables(), settings)(
        "auth CLOUD-SECRET-1234 refused"
    )
    assert secrets_redactor(Variables(), without)("auth x refused") == "auth x refused"


# -- a listing without configs is completed before anything is planned ----------------------


def test_a_listing_without_configs_is_completed_for_declared_and_owned_connectors_only(
    fake_connect: FakeConnect, clock: FakeClock
) -> None:
    from connect_operator.connect_client import ObservedConnector
    from connect_operator.ledger import LedgerEntry
    from connect_operator.reconcile import _complete_listing

    for name in ("declared", "owned", "foreign", "disabled"):
        fake_connect.connectors[name] = {"connector.class": "FileStreamSink", "topics": name}
    listed = ("declared", "owned", "foreign", "disabled", "deleted-since")
    observed = {name: ObservedConnector(name, None, state="RUNNING") for name in listed}
    target = Target(TARGET, fake_connect.url)
    disabled = replace(desired(target, "disabled"), enabled=False)
    declared = [desired(target, "declared"), desired(target, "deleted-since"), disabled]
    owned_entries = [LedgerEntry(TARGET, "owned", "default/m", "owned.json", "sha256:1")]

    _complete_listing(client_of(fake_connect, clock), observed, declared, owned_entries)

    assert [r.path for r in fake_connect.requests] == [
        "/connectors/declared/config",
        "/connectors/deleted-since/config",
        "/connectors/owned/config",
    ]
    assert observed["declared"].config == fake_connect.connectors["declared"]
    assert observed["declared"].state == "RUNNING"
    assert observed["owned"].config == fake_connect.connectors["owned"]
    assert observed["foreign"].config is None and observed["disabled"].config is None
    assert "deleted-since" not in observed  # gone since the listing: it is simply not there


def test_a_config_that_cannot_be_fetched_fails_the_listing(
    fake_connect: FakeConnect, clock: FakeClock
) -> None:
    from connect_operator.connect_client import ObservedConnector
    from connect_operator.errors import CredentialsRejected
    from connect_operator.reconcile import _complete_listing

    fake_connect.connectors["a"] = {"connector.class": "FileStreamSink", "topics": "t"}
    fake_connect.fail_next("GET", "/connectors/a/config", (403, "Forbidden"))
    observed = {"a": ObservedConnector("a", None)}

    with pytest.raises(CredentialsRejected):
        _complete_listing(
            client_of(fake_connect, clock),
            observed,
            [desired(Target(TARGET, fake_connect.url), "a")],
            [],
        )
    assert observed["a"].config is None


# -- rejected configs: validated first, remembered, held back while unchanged ----------------


def test_a_config_connect_rejected_is_held_back_while_it_has_not_changed(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    fake_connect.fail_next("PUT", "/connectors/a/config", (400, "bad a"))
    assert operator.run().returncode == 0
    assert sorted(fake_connect.connectors) == ["b"]
    fake_connect.requests.clear()

    report = reconcile_in_test(operator, now=time.time())

    assert not any(r.path == "/connectors/a/config" for r in fake_connect.requests)
    held = outcome_of(report, "a")
    assert replace(held, message="") == Outcome(
        Result.FAILED, TARGET, "a", Source("default/m", "a.json"), "", False, (), Result.CREATED
    )
    assert held.message.startswith("its config was rejected by Connect and has not changed")
    assert outcome_of(report, "b").result is Result.UNCHANGED  # the others go on
    (target,) = report.targets
    assert target.held_back == {"a"}
    assert set(report.rejections) == {(TARGET, "a")}
    assert report.retry_targets == ()


def test_a_config_that_fails_validation_is_not_written_and_is_remembered(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a", topics="")})

    report = reconcile_in_test(operator)

    assert fake_connect.writes() == []
    failed = outcome_of(report, "a")
    assert (failed.result, failed.temporary) == (Result.FAILED, False)
    assert "validation failed, nothing was written" in failed.message
    assert set(report.rejections_after) == {(TARGET, "a")}


def test_a_rejection_is_forgotten_once_its_config_is_written_or_no_longer_declared(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    fake_connect.fail_next("PUT", "/connectors/a/config", (400, "bad a"))
    fake_connect.fail_next("PUT", "/connectors/b/config", (400, "bad b"))
    assert operator.run().returncode == 0
    # a is fixed (a new config is sent and accepted), b is no longer declared.
    operator.put_configmap("m", {"a.json": document("a", topics="fixed")})

    report = reconcile_in_test(operator, now=time.time())

    assert outcome_of(report, "a").result is Result.CREATED
    assert report.rejections_after == {(TARGET, "a"): None, (TARGET, "b"): None}


def test_a_state_call_that_fails_after_its_config_was_written_is_no_rejection_of_the_config(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    operator.put_configmap("m", {"a.json": document("a", state="paused", topics="two")})
    fake_connect.fail_next("PUT", "/connectors/a/pause", (400, "cannot pause"))

    report = reconcile_in_test(operator)

    assert fake_connect.connectors["a"]["topics"] == "two"
    failed = outcome_of(report, "a")
    assert (failed.result, failed.message) == (
        Result.FAILED,
        "PUT /connectors/a/pause -> 400: cannot pause",
    )
    assert report.rejections_after == {}


def test_confluent_cloud_configs_are_not_validated_first_and_failed_ones_not_restarted(
    two_targets: ShellOperator, cloud: FakeConfluentCloud
) -> None:
    assert two_targets.run().returncode == 0
    cloud.fail_connector("gen", "boom")
    cloud.requests.clear()

    report = reconcile_in_test(two_targets)

    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in cloud.requests] == [
        ("GET", "connectors")
    ]
    failed = next(t for t in report.targets if t.target.id == CLOUD_TARGET)
    assert failed.restarts == []


# -- failed connectors are restarted when this run left them alone ---------------------------


def test_a_failed_connector_left_unchanged_is_restarted_but_one_just_updated_is_not(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b")})
    assert operator.run().returncode == 0
    fake_connect.failed_connectors.update(a="boom a", b="boom b")
    operator.put_configmap("m", {"a.json": document("a"), "b.json": document("b", topics="2")})
    fake_connect.requests.clear()

    report = reconcile_in_test(operator)

    restarts = [r.path for r in fake_connect.requests if r.path.endswith("/restart")]
    assert restarts == ["/connectors/a/restart"]
    (target,) = report.targets
    assert [r.connector for r in target.restarts] == ["a"]
    assert report.restart_changes is not None
    assert target.requests_sent == len(fake_connect.requests)


def test_the_render_caches_listing_of_a_failing_target_leaves_the_others_their_share(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    operator = two_targets
    assert operator.run().returncode == 0
    # The self-managed target is listed for the render cache before anything is planned.
    fake_connect.fail_next("GET", "/connectors", *[(503, "busy")] * 1000)
    cloud.requests.clear()
    started = operator.clock.now

    run = operator.run()

    assert run.returncode == 0
    assert retry_list(operator) == [TARGET]
    assert operator.clock.now - started == pytest.approx(10.0)
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in cloud.requests] == [
        ("GET", "connectors")
    ]
    unchanged = operator.metric(
        "connect_operator_connectors", target=CLOUD_TARGET, result="unchanged"
    )
    assert unchanged == 1


SECRET = "CANARY-TRACE-PASSWORD"


@pytest.mark.parametrize("listed_for", ["the plan", "the render cache"])
def test_a_failed_connectors_trace_in_the_report_holds_no_secret_value(
    operator: ShellOperator, fake_connect: FakeConnect, listed_for: str
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    if listed_for == "the render cache":  # a ledger entry with unchanged inputs
        assert operator.run().returncode == 0
    fake_connect.connectors["a"] = {"connector.class": "FileStreamSink", "topics": "t"}
    fake_connect.failed_connectors["a"] = f"java.sql.SQLException: password={SECRET} refused"
    variables = Variables(values={"DB_PASSWORD": SECRET})

    report = reconcile_in_test(operator, variables=variables)

    (target,) = report.targets
    trace = target.observed["a"].trace
    assert trace is not None and "password=" in trace
    assert SECRET not in trace


def test_a_state_change_alone_sends_neither_the_config_nor_its_validation(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    operator.put_configmap("m", {"a.json": document("a", state="paused")})
    fake_connect.requests.clear()

    assert operator.run().returncode == 0

    assert [(r.method, r.path) for r in fake_connect.requests] == [
        ("GET", "/connectors"),
        ("PUT", "/connectors/a/pause"),
    ]


def test_a_confluent_cloud_config_rejected_fails_only_its_connector(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    cloud.fail_next(
        "PUT", "/connectors/gen/config", (400, {"error_code": 400, "message": "bad gen"})
    )

    report = reconcile_in_test(two_targets)

    failed = outcome_of(report, "gen")
    assert (failed.result, failed.temporary, failed.target_id) == (
        Result.FAILED,
        False,
        CLOUD_TARGET,
    )
    assert "bad gen" in failed.message
    assert outcome_of(report, "a").result is Result.CREATED
    assert report.rejections_after == {}


def test_the_last_target_may_use_all_the_time_left(
    two_targets: ShellOperator, fake_connect: FakeConnect, cloud: FakeConfluentCloud
) -> None:
    # Six failed tries take 11.2 s of back-off: more than a third of the run's 20 s, less than
    # all of it. The self-managed target comes last and gets all that is left.
    fake_connect.fail_next("GET", "/connectors", *[(503, "busy")] * 6)

    report = reconcile_in_test(two_targets)

    assert [t.failure for t in report.targets] == [None, None]
    assert "a" in fake_connect.connectors and "gen" in cloud.connectors
    assert two_targets.clock.sleeps == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0]


# -- a connector several ConfigMaps declare --------------------------------------------------


def test_the_configmap_the_ledger_records_as_owner_keeps_a_connector_another_declares_too(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a", topics="one")})
    assert operator.run().returncode == 0
    operator.put_configmap("m", {"a.json": document("a", topics="two")})
    operator.put_configmap("n", {"a.json": document("a", topics="other")})

    run = operator.run()

    assert fake_connect.connectors["a"]["topics"] == "two"
    errors = [line for line in reconcile_lines(run) if line.get("configmap") == "default/n"]
    assert [line["level"] for line in errors] == ["error"]
    assert "the ledger records ConfigMap default/m as its owner" in errors[0]["msg"]


def test_a_connector_two_configmaps_contest_is_neither_deleted_nor_changed(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a", topics="one")})
    assert operator.run().returncode == 0
    before = ledger_entries(operator)
    operator.delete_configmap("m")
    operator.put_configmap("n", {"a.json": document("a", topics="n")})
    operator.put_configmap("o", {"a.json": document("a", topics="o")})
    fake_connect.requests.clear()

    assert operator.run().returncode == 0

    assert fake_connect.writes() == []
    assert fake_connect.connectors["a"]["topics"] == "one"
    assert ledger_entries(operator) == before


def test_every_ledger_target_that_cannot_be_rebuilt_is_reported_and_keeps_its_connectors(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    from connect_operator.ledger import LedgerEntry, encode_entry, entry_key

    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    ledger = operator.store.get("ConfigMap", "default", LEDGER)
    assert ledger is not None
    # Two targets no ConfigMap names any more, and that cannot be rebuilt from their ids.
    for target in ("zz-100%", "zz-other"):
        gone = LedgerEntry(target, "x", "default/gone", "x.json", "sha256:1", "FileStreamSink")
        ledger["data"][entry_key(gone.target, gone.connector)] = encode_entry(gone)

    run = operator.run()
    report = reconcile_in_test(operator)

    assert [(t.target.id, t.target.base_url) for t in report.targets] == [
        (TARGET, fake_connect.url),
        ("zz-100%", ""),
        ("zz-other", ""),
    ]
    assert all(t.failure_is_permanent for t in report.targets[1:])
    assert line(
        "error",
        "target zz-100% of 1 owned connectors cannot be reached: ledger names an unknown target"
        " 'zz-100%'; its connectors stay owned, and are not retried before the next resync",
        target="zz-100%",
        action="failed",
    ) in reconcile_lines(run)
    ledger_after = operator.ledger()
    assert ledger_after is not None
    assert sorted((e["target"], e["connector"]) for e in ledger_after["entries"]) == [
        (TARGET, "a"),
        ("zz-100%", "x"),
        ("zz-other", "x"),
    ]


def test_the_render_caches_listing_of_the_only_target_may_use_more_than_half_the_deadline(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    # Seven failed tries take 16.2 s of the run's 20 s; the eighth lists the target.
    fake_connect.fail_next("GET", "/connectors", *[(503, "busy")] * 7)
    started = operator.clock.now

    assert operator.run().returncode == 0

    assert operator.clock.now - started == pytest.approx(16.2)
    assert operator.metric("connect_operator_connectors", target=TARGET, result="unchanged") == 1
    assert retry_list(operator) == []


def test_no_template_is_rendered_once_the_run_deadline_has_passed(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    operator.put_configmap("n", {"b.json": document("b")})
    assert operator.run().returncode == 0
    # a is unchanged, so its listing is asked first, and fails until the deadline; b changed.
    operator.put_configmap("n", {"b.json": document("b", topics="two")})
    fake_connect.fail_next("GET", "/connectors", *[(503, "busy")] * 1000)

    run = operator.run()

    assert run.returncode == 1  # shell-operator retries the run; nothing was written
    assert run.patch == ""
    assert fake_connect.connectors["b"]["topics"] == "t"
    assert any("deadline" in line["msg"] for line in run.log_lines() if line["level"] == "error")


def test_a_retry_tick_with_nothing_to_do_says_so_at_debug_level(
    debug_operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator = debug_operator
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    (context,) = group_contexts(operator.config(), operator.store)

    tick = operator.run_with([{**context, "binding": "retry"}])

    assert reconcile_lines(tick) == [
        line("debug", "retry tick: no target to retry and no ConfigMap changed since the last run")
    ]


def test_a_failed_connector_restarted_is_not_restarted_again_before_its_back_off(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    assert operator.run().returncode == 0
    fake_connect.failed_connectors["a"] = "boom"
    assert operator.run().returncode == 0
    assert [r.path for r in fake_connect.requests if r.path.endswith("/restart")] == [
        "/connectors/a/restart"
    ]
    fake_connect.requests.clear()

    assert operator.run().returncode == 0

    assert not any(r.path.endswith("/restart") for r in fake_connect.requests)


def test_a_run_that_saw_only_one_configmaps_event_prunes_nothing_another_one_owns(
    operator: ShellOperator, fake_connect: FakeConnect
) -> None:
    operator.put_configmap("m", {"a.json": document("a")})
    operator.put_configmap("n", {"b.json": document("b")})
    assert operator.run().returncode == 0
    operator.put_configmap("n", {"b.json": document("b", topics="two")})
    (group,) = group_contexts(operator.config(), operator.store)
    event = {
        "binding": "connectors",
        "type": "Event",
        "watchEvent": "Modified",
        "object": operator.store.get("ConfigMap", "default", "n"),
        "snapshots": {"ledger": group["snapshots"]["ledger"]},
    }

    run = operator.run_with([event])

    assert run.returncode == 0
    assert fake_connect.connectors["b"]["topics"] == "two"
    assert "a" in fake_connect.connectors  # not declared by what this run saw, yet not pruned
    assert set(owned(operator)) == {"a", "b"}


def test_a_failed_connector_listed_without_its_trace_is_logged_with_the_trace_of_its_status(
    two_targets: ShellOperator, cloud: FakeConfluentCloud
) -> None:
    assert two_targets.run().returncode == 0
    cloud.listing_omits_trace = True
    cloud.fail_connector("gen", "org.apache.kafka.connect.errors.ConnectException: boom")

    run = two_targets.run()

    failed = [line for line in reconcile_lines(run) if line.get("connector") == "gen"]
    assert [(line["level"], line["msg"]) for line in failed] == [
        (
            "error",
            "connector gen is FAILED with failed tasks [0]:"
            " org.apache.kafka.connect.errors.ConnectException: boom",
        )
    ]
    assert any(r.path.endswith("/connectors/gen/status") for r in cloud.requests)
