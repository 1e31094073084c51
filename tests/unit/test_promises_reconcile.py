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
from tests.support.fake_connect import FakeConnect
from tests.support.shell_operator import HookRun, ShellOperator, group_contexts

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


def reconcile_in_test(operator: ShellOperator, *, dry_run: bool = False) -> RunReport:
    """`reconcile` called directly on the operator's store, waiting on its fake clock."""
    settings = Settings.from_env(operator.env)
    view = read_binding_context(
        json.dumps(group_contexts(operator.config(), operator.store)), settings
    )
    clock = operator.clock
    return reconcile(
        view,
        Variables(),
        settings,
        deadline=Deadline(settings.run_deadline, clock.monotonic),
        sleep=clock.sleep,
        now=lambda: 1_700_000_000.0,
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
    operator.put_configmap("m", {f"{n}.json": document(n) for n in "abc"})
    first = operator.run()
    assert reconcile_lines(first) == [
        line(
            "info",
            f"connector {n} has been created: declared and missing",
            **context(n, "m", f"{n}.json", "created"),
        )
        for n in "abc"
    ]
    operator.put_configmap("m", {"a.json": document("a", topics="two"), "c.json": document("c")})

    second = operator.run()

    assert reconcile_lines(second) == [
        line(
            "info",
            "connector b has been deleted: no longer declared by ConfigMap default/m key b.json",
            **context("b", "m", "b.json", "deleted"),
        ),
        line(
            "info",
            "connector a has been updated: config differs (keys: topics)",
            **context("a", "m", "a.json", "updated"),
        ),
        line("debug", "connector c has been unchanged", **context("c", "m", "c.json", "unchanged")),
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
    assert outcome_of(report, "b").result is Result.CREATED
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
