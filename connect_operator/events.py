"""Kubernetes Events on the source ConfigMap: what happened to its connectors, where people look.

`kubectl describe configmap <name>` and `kubectl get events` show them. They are written
through KUBERNETES_PATCH_PATH as `Create` operations of core `v1` Events whose
`involvedObject` is the ConfigMap (with its uid, which `kubectl describe` matches on), in the
ConfigMap's namespace; so the operator needs `create` on `events` in every watched namespace,
and nothing more.

Events are emitted on transitions only, so an unchanged run emits none, and a connector that
stays failed does not emit on every run:

==============  =======  ================================================================
reason          type     when
==============  =======  ================================================================
Created         Normal   a connector was created (and set to its declared state)
Updated         Normal   its config was updated; the message names the keys, never values
StateChanged    Normal   it was paused, resumed or stopped to match its declared state
Deleted         Normal   it was deleted (no longer declared, or `enabled: "false"`)
Rejected        Warning  Connect refused its config (a 400, a missing plugin, a failed
                         validation), with Connect's message redacted; a rejected config
                         that is held back unchanged emits nothing more
Failed          Warning  it was seen FAILED for the first time, with the first line of the
                         trace, redacted
Restarted       Normal   auto-restart sent attempt n of m
GaveUp          Warning  the last attempt did not help
==============  =======  ================================================================

Messages go through the run's redactor, and are cut to 1000 characters (the API's limit is
1 KiB for `events.k8s.io`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from connect_operator.desired import Source
from connect_operator.plan import Lifecycle, Result
from connect_operator.reconcile import Outcome, RunReport
from connect_operator.restarts import Verdict

COMPONENT = "connect-operator"
MESSAGE_LIMIT = 1000
_PAST = {Lifecycle.PAUSE: "paused", Lifecycle.RESUME: "resumed", Lifecycle.STOP: "stopped"}


@dataclass(frozen=True)
class ConnectorEvent:
    """One Event to post on a connector's source ConfigMap."""

    source: Source
    connector: str
    target: str
    reason: str
    message: str
    warning: bool = False


def connector_events(report: RunReport) -> list[ConnectorEvent]:
    """The Events this run's transitions call for (none for a dry run)."""
    if report.dry_run:
        return []
    events: list[ConnectorEvent] = []
    for target in report.targets:
        lifecycle = {
            action.connector: action.lifecycle
            for action in (target.plan.actions if target.plan else ())
        }
        for outcome in target.outcomes:
            if outcome.source is None or outcome.connector is None:
                continue
            for reason, message, warning in _outcome_events(
                outcome, lifecycle.get(outcome.connector), outcome.connector in target.held_back
            ):
                events.append(
                    ConnectorEvent(
                        outcome.source,
                        outcome.connector,
                        target.target.id,
                        reason,
                        f"connector {outcome.connector} on {target.target.id}: {message}",
                        warning,
                    )
                )
        for restart in target.restarts:
            where = f"connector {restart.connector} on {restart.target}"
            first = restart.verdict is Verdict.NOTICED or (
                restart.verdict is Verdict.RESTART and restart.attempts == 1 and not restart.error
            )
            if first:
                trace = f": {restart.trace}" if restart.trace else ""
                events.append(
                    ConnectorEvent(
                        restart.source,
                        restart.connector,
                        restart.target,
                        "Failed",
                        f"{where}: {restart.failed} FAILED{trace}",
                        True,
                    )
                )
            if restart.verdict is Verdict.RESTART and not restart.error:
                events.append(
                    ConnectorEvent(
                        restart.source,
                        restart.connector,
                        restart.target,
                        "Restarted",
                        f"{where}: restarted {restart.failed}"
                        f" (attempt {restart.attempts} of {restart.max_attempts})",
                    )
                )
            elif restart.verdict is Verdict.GIVE_UP:
                events.append(
                    ConnectorEvent(
                        restart.source,
                        restart.connector,
                        restart.target,
                        "GaveUp",
                        f"{where}: given up, {restart.failed} still FAILED after"
                        f" {restart.attempts} restart attempts",
                        True,
                    )
                )
    return events


def _outcome_events(
    outcome: Outcome, call: Lifecycle | None, held_back: bool
) -> list[tuple[str, str, bool]]:
    """(reason, message, warning) for what one apply outcome changed."""
    if outcome.result is Result.CREATED:
        return [("Created", "created" + (f" and {_PAST[call]}" if call else ""), False)]
    if outcome.result is Result.UPDATED:
        found = []
        if outcome.changed_keys:
            keys = ", ".join(outcome.changed_keys)
            found.append(("Updated", f"config updated (keys: {keys})", False))
        if call:
            found.append(("StateChanged", f"{_PAST[call]}: {outcome.message}", False))
        return found
    if outcome.result is Result.DELETED:
        return [("Deleted", f"deleted: {outcome.message}", False)]
    rejected = (
        outcome.result is Result.FAILED
        and outcome.planned in (Result.CREATED, Result.UPDATED)
        and not outcome.temporary
        and not held_back
    )
    if rejected:
        return [("Rejected", f"config rejected by Connect: {outcome.message}", True)]
    return []


def event_operations(
    events: Iterable[ConnectorEvent],
    uids: Mapping[str, str],
    redact: Callable[[str], str],
    now: float,
    instance: str | None = None,
) -> list[dict[str, Any]]:
    """`Create` operations of core v1 Events, one per event, on the source ConfigMaps.

    `uids` maps `namespace/name` to the ConfigMap's uid (a deleted ConfigMap has none: its
    Event still shows in `kubectl get events`). Names are unique: the ConfigMap's name, then
    a digest of the event, the time and a random salt.
    """
    stamp = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    reporter = instance or os.environ.get("HOSTNAME", COMPONENT)
    operations: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        namespace, _, name = event.source.configmap.partition("/")
        message = redact(event.message)
        if len(message) > MESSAGE_LIMIT:
            message = message[: MESSAGE_LIMIT - 3] + "..."
        salt = os.urandom(4).hex()
        digest = hashlib.sha256(
            f"{event.source.configmap}\0{event.reason}\0{now}\0{index}\0{salt}".encode()
        ).hexdigest()[:16]
        involved: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "namespace": namespace,
            "name": name,
        }
        uid = uids.get(event.source.configmap)
        if uid:
            involved["uid"] = uid
        operations.append(
            {
                "operation": "Create",
                "object": {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {
                        "name": f"{name[:200]}.{digest}",
                        "namespace": namespace,
                        "labels": {"app.kubernetes.io/managed-by": COMPONENT},
                    },
                    "involvedObject": involved,
                    "reason": event.reason,
                    "message": message,
                    "type": "Warning" if event.warning else "Normal",
                    "source": {"component": COMPONENT},
                    "reportingComponent": COMPONENT,
                    "reportingInstance": reporter[:128],
                    "firstTimestamp": stamp,
                    "lastTimestamp": stamp,
                    "count": 1,
                },
            }
        )
    return operations
