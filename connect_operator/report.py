"""Report back: the files shell-operator hands us (patch and metrics) and the human summary.

The ledger's changes go to KUBERNETES_PATCH_PATH as per-entry merge patches, one JSON document per
line (see ledger.py), followed by the restart and rejection bookkeeping (restarts.py,
rejections.py) and the Kubernetes Events of this run's transitions (events.py). Metrics go to
METRICS_PATH in the group `connect_operator`, written in full on every run, because
shell-operator replaces a group's series with each batch. Neither holds a config value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from connect_operator.events import connector_events, event_operations
from connect_operator.ledger import ledger_operations
from connect_operator.plan import Result
from connect_operator.reconcile import RunReport
from connect_operator.rejections import rejection_operations
from connect_operator.restarts import Verdict, record_operations
from connect_operator.settings import Settings

METRIC_GROUP = "connect_operator"


def patch_operations(report: RunReport, settings: Settings) -> list[dict[str, Any]]:
    """The Kubernetes operations this run asks shell-operator to perform."""
    changes = report.ledger_changes
    if changes is None:
        return []
    operations = ledger_operations(
        settings.ledger_name, settings.own_namespace, report.ledger, changes, report.status
    )
    if report.restart_changes:
        operations += record_operations(
            settings.ledger_name, settings.own_namespace, report.restart_changes
        )
    operations += rejection_operations(
        settings.ledger_name, settings.own_namespace, report.rejections, report.rejections_after
    )
    operations += event_operations(
        connector_events(report), report.uids, report.redactor, report.wall_time
    )
    return operations


def metric_operations(report: RunReport, duration_seconds: float) -> list[dict[str, Any]]:
    """The full metric set for this run."""
    ops: list[dict[str, Any]] = []

    def gauge(name: str, value: float, **labels: str) -> None:
        op: dict[str, Any] = {"group": METRIC_GROUP, "name": name, "action": "set", "value": value}
        if labels:
            op["labels"] = labels
        ops.append(op)

    gauge("connect_operator_run_duration_seconds", round(duration_seconds, 3))
    gauge("connect_operator_declaration_errors", len(report.declaration_errors))
    for target in report.targets:
        counts = {result: 0 for result in Result}
        for outcome in target.outcomes:
            counts[outcome.result] += 1
        for result, count in counts.items():
            gauge(
                "connect_operator_connectors", count, target=target.target.id, result=result.value
            )
        gauge("connect_operator_target_up", 0 if target.failure else 1, target=target.target.id)
        if target.failure:
            kind = "permanent" if target.failure_is_permanent else "temporary"
            gauge("connect_operator_target_failed", 1, target=target.target.id, kind=kind)
        refused = len(target.plan.refused_deletes) if target.plan else 0
        gauge("connect_operator_deletes_refused", refused, target=target.target.id)
        for restart in target.restarts:
            labels = {"target": target.target.id, "connector": restart.connector}
            gauge("connect_operator_connector_restarts", restart.attempts, **labels)
            given_up = restart.verdict in (Verdict.GIVE_UP, Verdict.GIVEN_UP)
            gauge("connect_operator_connector_restart_given_up", int(given_up), **labels)
        managed = {
            o.connector for o in target.outcomes if o.result is not Result.DELETED and o.connector
        }
        for name in sorted(managed):
            observed = target.observed.get(name)
            if observed is None or observed.state is None:
                continue
            gauge(
                "connect_operator_connector_running",
                1 if observed.state == "RUNNING" else 0,
                target=target.target.id,
                connector=name,
                state=observed.state,
            )
            failed = sum(1 for _, state in observed.tasks if state == "FAILED")
            gauge(
                "connect_operator_connector_failed_tasks",
                failed,
                target=target.target.id,
                connector=name,
            )
    return ops


def write_json_lines(path: Path, documents: Iterable[dict[str, Any]]) -> None:
    """Append JSON documents, one per line, to a file shell-operator created for us.

    Each line is written as it is encoded: a run that creates thousands of connectors writes
    megabytes of ledger entries and Events, which are never all held as text at once."""
    documents = list(documents)
    if not documents:
        return
    encode = _JSON_LINE.encode
    with path.open("a", encoding="utf-8") as handle:
        for document in documents:
            handle.write(encode(document) + "\n")


# One encoder for every line: `json.dumps` with options builds a new one per call.
_JSON_LINE = json.JSONEncoder(sort_keys=True)


def summary_lines(report: RunReport) -> list[str]:
    """A human summary, one line per connector, for `connect-operator run`."""
    lines = []
    verb = "would be " if report.dry_run else ""
    for outcome in report.outcomes:
        where = f"{outcome.source.configmap} [{outcome.source.key}]" if outcome.source else ""
        name = outcome.connector or "?"
        target_id = outcome.target_id or "-"
        detail = outcome.message
        if outcome.changed_keys:
            detail = f"{detail} (keys: {', '.join(outcome.changed_keys)})"
        result = (
            outcome.result.value if outcome.result is Result.FAILED else verb + outcome.result.value
        )
        lines.append(f"{result:<20} {name:<32} {target_id:<22} {where}  {detail}".rstrip())
    for target in report.targets:
        if target.plan and target.plan.refused_deletes:
            lines.append(
                f"{'refused':<20} {len(target.plan.refused_deletes)} deletions on"
                f" {target.target.id} above CONNECT_OPERATOR_MAX_DELETES:"
                f" {', '.join(target.plan.refused_deletes)}"
            )
        if target.failure:
            lines.append(f"{'failed':<20} {target.failure}")
    counts = report.counts()
    totals = ", ".join(f"{counts.get(result, 0)} {result.value}" for result in Result)
    lines.append(f"{'dry run: ' if report.dry_run else ''}{totals}")
    return lines
