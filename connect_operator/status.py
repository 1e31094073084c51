"""`connect-operator status --binding-context FILE`: what each declared connector is doing.

For every connector the ConfigMaps declare (and every key that does not render), one row: its
target, its declared and live state, its tasks, the last error (the first line of a FAILED
connector's trace, a rejected config, a declaration error or an unreachable target; always
redacted) and its restart attempts, read from the bookkeeping the hook keeps beside the ledger.
It reads Connect (one listing per target, and a status for a FAILED connector whose listing has
no trace) and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import requests

from connect_operator.binding import ClusterView
from connect_operator.connect_client import (
    ConnectClient,
    Deadline,
    ObservedConnector,
    client_for_target,
)
from connect_operator.desired import DesiredConnector, desired_state
from connect_operator.errors import ConnectOperatorError
from connect_operator.ledger import read_ledger
from connect_operator.properties import Variables
from connect_operator.redaction import Redactor
from connect_operator.rejections import read_rejections
from connect_operator.restarts import failed_parts, read_restart_records
from connect_operator.settings import Settings

HEADERS = (
    "TARGET",
    "CONNECTOR",
    "CONFIGMAP",
    "DECLARED",
    "LIVE",
    "TASKS",
    "RESTARTS",
    "LAST ERROR",
)
_ERROR_LIMIT = 200


@dataclass(frozen=True)
class StatusRow:
    """One line of the status table."""

    target: str
    connector: str
    configmap: str
    declared: str
    live: str
    tasks: str
    restarts: str
    last_error: str

    def cells(self) -> tuple[str, ...]:
        """The row's cells, in HEADERS order."""
        return (
            self.target,
            self.connector,
            self.configmap,
            self.declared,
            self.live,
            self.tasks,
            self.restarts,
            self.last_error,
        )


def status_rows(
    view: ClusterView,
    variables: Variables,
    settings: Settings,
    redactor: Redactor,
    session: requests.Session | None = None,
) -> list[StatusRow]:
    """Render, observe each target once, and join with the restart and rejection bookkeeping."""
    ledger = read_ledger(view.ledgers, settings.ledger_name) if view.ledger_known else None
    desired = desired_state(
        view.declared_configmaps(),
        view.cluster_configmaps,
        variables,
        settings,
        owners={(e.target, e.connector): e.configmap for e in ledger.entries} if ledger else None,
    )
    records = read_restart_records(view.ledgers) if view.ledger_known else {}
    rejections = read_rejections(view.ledgers) if view.ledger_known else {}
    policy = settings.restart_policy
    rows: list[StatusRow] = []
    for declaration in desired.errors:
        where = f"{declaration.source.configmap} [{declaration.source.key}]"
        message = _short(redactor(declaration.message))
        rows.append(StatusRow("-", "-", where, "-", "-", "-", "-", message))
    session = session or requests.Session()
    for target_id, target in sorted(desired.targets().items()):
        connectors: Sequence[DesiredConnector] = [
            c for c in desired.connectors if c.target.id == target_id and c.enabled
        ]
        client = client_for_target(
            target, settings, Deadline(settings.run_deadline), session=session, redactor=redactor
        )
        try:
            observed = client.list_connectors_expanded()
            unreachable = ""
        except ConnectOperatorError as exc:
            observed, unreachable = {}, f"target unavailable: {exc}"
        for connector in sorted(connectors, key=lambda c: c.name):
            current = observed.get(connector.name)
            record = records.get((target_id, connector.name))
            rejection = rejections.get((target_id, connector.name))
            restarts = "-"
            if record is not None:
                restarts = f"{record.attempts}/{policy.max_attempts}" + (
                    " given up" if record.gave_up else ""
                )
            error = unreachable or _last_error(client, connector, current)
            if not error and rejection and rejection.config_hash == connector.config_hash:
                error = (
                    f"config rejected {rejection.times} times; not re-sent until it, its"
                    " variables or the target's plugins change"
                )
            rows.append(
                StatusRow(
                    target_id,
                    connector.name,
                    f"{connector.source.configmap} [{connector.source.key}]",
                    connector.state,
                    _live(current, bool(unreachable)),
                    ", ".join(f"{task}:{state}" for task, state in current.tasks)
                    if current
                    else "-",
                    restarts,
                    _short(redactor(error)) if error else "-",
                )
            )
    return rows


def _live(current: ObservedConnector | None, unreachable: bool) -> str:
    if unreachable:
        return "?"
    if current is None:
        return "MISSING"
    return current.state or "?"


def _last_error(
    client: ConnectClient, connector: DesiredConnector, current: ObservedConnector | None
) -> str:
    if current is None:
        return ""
    if current.status_problem:
        return f"status unreadable: {current.status_problem}"
    failed = failed_parts(current.state, current.tasks)
    if not failed:
        return ""
    trace = current.trace or current.task_trace
    if current.state == "FAILED" and not trace:
        try:
            trace = client.get_connector_status(connector.name).trace
        except ConnectOperatorError as exc:
            trace = f"its status could not be read: {exc}"
    first = (trace or "").strip().splitlines()[0] if (trace or "").strip() else ""
    return f"{failed} FAILED" + (f": {first}" if first else "")


def _short(text: str) -> str:
    return text if len(text) <= _ERROR_LIMIT else text[: _ERROR_LIMIT - 3] + "..."


def format_table(rows: Sequence[StatusRow]) -> list[str]:
    """Aligned columns; the last one (the error) is not padded."""
    table = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS) - 1)]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line[:-1])) + "  " + line[-1]
        for line in table
    ]
