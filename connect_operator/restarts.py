"""Auto-restart of FAILED connectors and tasks: the back-off schedule and its bookkeeping.

A declared, `running` connector on self-managed Connect whose connector or any task is `FAILED`
is restarted with `POST /connectors/{name}/restart?includeTasks=true&onlyFailed=true`:

- attempt 1 at once; attempt n+1 once (n² + n) back-off units have passed since attempt n
  (Strimzi's schedule: 2, 6, 12, 20, 30, 42, 56 minutes with the default one-minute unit),
  each wait capped (`RestartPolicy.backoff_cap`, an hour by default);
- after `max_attempts` the connector is *given up*: reported once (log, Event, metric), and not
  restarted again until it has recovered or its record is reset;
- once it has stayed healthy for `reset_after` seconds after its last attempt, the record is
  dropped and a later failure starts again at attempt 1;
- a connector declared `paused` or `stopped`, one this run created, updated or deleted (a config
  PUT restarts it anyway), and one whose status cannot be read are never restarted.

The bookkeeping (first attempt's time, attempts made, given up) is one data key per connector,
`r.<the digest of its ledger entry>`, in the ledger ConfigMap that holds the entry's shard, and
it holds no config value. It is written through KUBERNETES_PATCH_PATH like the ledger, so it
survives runs and restarts of the operator.

Real shell-operator has no read-your-writes: a run may see the record as it was before the last
run's write. So the record never stores "the time of the last attempt"; it stores when attempt 1
happened, and every later attempt's due time is a fixed offset from it (`RestartPolicy.due_at`).
A run that reads a stale record (attempt n-1) after attempt n already happened can at worst send
attempt n once more and write exactly the record that is already there: the count never runs
ahead of the attempts made, the schedule never shifts (one that sees no record yet repeats
attempt 1, and the schedule starts from the repeat), and no attempt past `max_attempts` is ever
sent.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from connect_operator.binding import ConfigMapView
from connect_operator.connect_client import ConnectClient, ObservedConnector
from connect_operator.desired import DesiredConnector, Source
from connect_operator.errors import ConnectOperatorError
from connect_operator.ledger import (
    ENTRY_PREFIX,
    bookkeeping_operations,
    entry_key,
    read_bookkeeping,
)
from connect_operator.restart_policy import RestartPolicy

log = logging.getLogger(__name__)

RECORD_PREFIX = "r."


@dataclass(frozen=True, order=True)
class RestartRecord:
    """The restart bookkeeping of one connector on one target.

    `first_attempt_at` is the wall-clock time (epoch seconds) of attempt 1, or of when the
    failure was first seen while auto-restart was off (then `attempts` is 0).
    """

    target: str
    connector: str
    first_attempt_at: int
    attempts: int
    gave_up: bool = False

    @property
    def data_key(self) -> str:
        """`r.` and the digest of the connector's ledger entry key."""
        return record_key(self.target, self.connector)

    def encode(self) -> str:
        """The compact JSON value of the record's data key."""
        document: dict[str, Any] = {
            "t": self.target,
            "n": self.connector,
            "s": self.first_attempt_at,
            "a": self.attempts,
        }
        if self.gave_up:
            document["g"] = True
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> RestartRecord:
        """Read a record; ValueError, KeyError or TypeError when it is not one."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise TypeError("record is not an object")
        target, connector = document["t"], document["n"]
        first, attempts = document["s"], document["a"]
        if not isinstance(target, str) or not isinstance(connector, str):
            raise TypeError("target and connector must be strings")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (first, attempts)):
            raise TypeError("time and attempts must be whole numbers")
        return cls(target, connector, first, attempts, document.get("g") is True)


def record_key(target: str, connector: str) -> str:
    """The data key of a connector's restart record."""
    return RECORD_PREFIX + entry_key(target, connector)[len(ENTRY_PREFIX) :]


RecordKey = tuple[str, str]


def read_restart_records(
    configmaps: Sequence[ConfigMapView],
) -> dict[RecordKey, RestartRecord]:
    """Every restart record in the ledger ConfigMaps, by (target, connector).

    An unreadable record is logged and ignored: the worst it costs is one early restart, which
    is better than failing the run over bookkeeping.
    """
    records = read_bookkeeping(configmaps, RECORD_PREFIX, RestartRecord.decode, "a restart record")
    return {(record.target, record.connector): record for record in records}


class Verdict(str, Enum):
    """What the restart bookkeeping decides for one connector in one run."""

    RESTART = "restart"  # send a restart now (attempt n of m)
    WAIT = "wait"  # failing, the next attempt is not due yet
    GIVE_UP = "give up"  # the last attempt did not help: report it, once
    GIVEN_UP = "given up"  # still failing after giving up: nothing to do
    NOTICED = "noticed"  # failing, auto-restart is off: report it, once
    RESET = "reset"  # healthy long enough (or gone): forget the record
    NONE = "none"


@dataclass(frozen=True)
class RestartDecision:
    """A verdict and the record that should be there after it (None: no record)."""

    verdict: Verdict
    record: RestartRecord | None
    # The attempt a RESTART sends (1-based); for WAIT, when the next one is due.
    attempt: int = 0
    next_due: float | None = None


def decide_restart(
    policy: RestartPolicy,
    target: str,
    connector: str,
    record: RestartRecord | None,
    *,
    failing: bool,
    now: float,
) -> RestartDecision:
    """The pure back-off decision for one declared `running` connector. See the module docstring."""
    if not failing:
        if record is None:
            return RestartDecision(Verdict.NONE, None)
        last = policy.due_at(record.first_attempt_at, max(record.attempts, 1))
        if now >= last + policy.reset_after:
            return RestartDecision(Verdict.RESET, None)
        return RestartDecision(Verdict.NONE, record)
    if record is None or (record.attempts == 0 and policy.enabled):
        # Rounded up: a later attempt may come a moment late, never early.
        first = math.ceil(now)
        if not policy.enabled:
            return RestartDecision(Verdict.NOTICED, RestartRecord(target, connector, first, 0))
        return RestartDecision(
            Verdict.RESTART, RestartRecord(target, connector, first, 1), attempt=1
        )
    if not policy.enabled or record.gave_up:
        return RestartDecision(Verdict.GIVEN_UP if record.gave_up else Verdict.NONE, record)
    following = record.attempts + 1
    due = policy.due_at(record.first_attempt_at, following)
    if now < due:
        return RestartDecision(Verdict.WAIT, record, next_due=due)
    if record.attempts >= policy.max_attempts:
        return RestartDecision(Verdict.GIVE_UP, replace(record, gave_up=True))
    return RestartDecision(Verdict.RESTART, replace(record, attempts=following), attempt=following)


@dataclass(frozen=True)
class RecordChanges:
    """Restart records to write and to remove, as this run decided them."""

    upserts: tuple[RestartRecord, ...] = ()
    removals: tuple[RecordKey, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.upserts or self.removals)


def record_changes(
    before: Mapping[RecordKey, RestartRecord],
    after: Iterable[tuple[RecordKey, RestartRecord | None]],
) -> RecordChanges:
    """What differs between the records the snapshot showed and what the run decided."""
    upserts: list[RestartRecord] = []
    removals: list[RecordKey] = []
    for key, record in after:
        if record is None:
            if key in before:
                removals.append(key)
        elif before.get(key) != record:
            upserts.append(record)
    return RecordChanges(tuple(sorted(upserts)), tuple(sorted(removals)))


def record_operations(
    ledger_name: str, namespace: str, changes: RecordChanges
) -> list[dict[str, Any]]:
    """shell-operator operations that write the restart records' changes."""
    writes: list[tuple[str, str, str | None]] = [
        (entry_key(r.target, r.connector), r.data_key, r.encode()) for r in changes.upserts
    ]
    writes += [(entry_key(t, n), record_key(t, n), None) for t, n in changes.removals]
    return bookkeeping_operations(ledger_name, namespace, writes)


def failed_parts(state: str | None, tasks: Sequence[tuple[int, str]]) -> str:
    """What is FAILED, in words ("" when nothing is): the connector and/or task ids."""
    if state != "FAILED" and all(task_state != "FAILED" for _, task_state in tasks):
        return ""  # every run, for nearly every connector
    failed_tasks = [str(task) for task, task_state in tasks if task_state == "FAILED"]
    parts = ["the connector"] if state == "FAILED" else []
    if failed_tasks:
        parts.append(f"task{'s' if len(failed_tasks) > 1 else ''} {', '.join(failed_tasks)}")
    return " and ".join(parts)


@dataclass(frozen=True)
class RestartOutcome:
    """What the auto-restart did (or decided) for one connector in this run."""

    target: str
    connector: str
    source: Source
    verdict: Verdict
    attempts: int
    max_attempts: int
    failed: str = ""  # what is FAILED, in words
    trace: str = ""  # the first line of the failure's trace, redacted
    error: str = ""  # why the restart request failed, when it did


def restart_failed(
    policy: RestartPolicy,
    target_id: str,
    client: ConnectClient,
    observed: Mapping[str, ObservedConnector],
    connectors: Iterable[DesiredConnector],
    untouched: Iterable[str],
    records: Mapping[RecordKey, RestartRecord],
    now: float,
) -> tuple[list[RestartOutcome], list[tuple[RecordKey, RestartRecord | None]]]:
    """Restart what is due on one observed target; return the outcomes and the records after.

    `untouched` are the connectors this run left as they were (a created, updated or deleted
    one is not restarted: its PUT restarts it anyway). Records of connectors that are no longer
    declared on the target, or no longer exist, are dropped.
    """
    outcomes: list[RestartOutcome] = []
    after: list[tuple[RecordKey, RestartRecord | None]] = []
    left_alone = set(untouched)
    declared = {c.name: c for c in connectors if c.enabled}
    for key in sorted(records):
        if key[0] == target_id and (key[1] not in declared or key[1] not in observed):
            after.append((key, None))
    for name in sorted(declared):
        connector = declared[name]
        current = observed.get(name)
        key = (target_id, name)
        if (
            current is None
            or current.status_problem
            or name not in left_alone
            or connector.state != "running"
        ):
            continue
        failed = failed_parts(current.state, current.tasks)
        if not failed and key not in records:
            after.append((key, None))  # healthy, never restarted: nothing to decide
            continue
        decision = decide_restart(
            policy, target_id, name, records.get(key), failing=bool(failed), now=now
        )
        context = {
            "connector": name,
            "target": target_id,
            "configmap": connector.source.configmap,
            "key": connector.source.key,
        }
        record = decision.record
        outcome = RestartOutcome(
            target_id,
            name,
            connector.source,
            decision.verdict,
            record.attempts if record else 0,
            policy.max_attempts,
            failed,
            _first_line(current.trace or current.task_trace),
        )
        if decision.verdict is Verdict.RESTART:
            try:
                client.restart_connector(name)
            except ConnectOperatorError as exc:
                log.error(
                    "connector %s has failed to be restarted (attempt %d of %d): %s",
                    name,
                    decision.attempt,
                    policy.max_attempts,
                    exc,
                    extra={**context, "action": "failed"},
                )
                outcomes.append(replace(outcome, error=str(exc)))
                continue  # the record stays as it was: the attempt is due again next run
            log.warning(
                "connector %s has been restarted (attempt %d of %d): %s FAILED",
                name,
                decision.attempt,
                policy.max_attempts,
                failed,
                extra={**context, "action": "restarted"},
            )
        elif decision.verdict is Verdict.GIVE_UP:
            log.error(
                "connector %s has been given up: %s still FAILED after %d restart attempts;"
                " fix it and restart it by hand, or change its config",
                name,
                failed,
                record.attempts if record else 0,
                extra={**context, "action": "given up"},
            )
        elif decision.verdict is Verdict.WAIT and decision.next_due is not None:
            log.info(
                "connector %s is FAILED (%s); restart attempt %d of %d in %d s",
                name,
                failed,
                (record.attempts if record else 0) + 1,
                policy.max_attempts,
                max(0, round(decision.next_due - now)),
                extra=context,
            )
        elif decision.verdict is Verdict.RESET:
            log.info(
                "connector %s has stayed healthy after its restarts: restart count reset",
                name,
                extra=context,
            )
        after.append((key, record))
        if decision.verdict is not Verdict.NONE or record is not None:
            outcomes.append(outcome)
    return outcomes, after


def _first_line(trace: str | None) -> str:
    return (trace or "").strip().splitlines()[0][:500] if (trace or "").strip() else ""
