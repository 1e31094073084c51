"""`connect-operator plan`, end to end: manifests in, a `PlanReport` out, nothing written.

    objects  = read_manifests(-f ...)                      (file and line on every error)
    snapshot = select_snapshot(objects)                    (the hook's own bindings)
    ledger   = ledger_configmaps(--ledger ...)             (optional)
    report   = reconcile(view, ..., dry_run=True)          (the hook's render, one listing per
                                                            target, normalise, plan_target)
    --validate: PUT /connector-plugins/{class}/config/validate for each create and update
    plan     = PlanReport(...)                             (plan_report.py formats it)

`--offline` stops after rendering (`desired_state`, as the hook calls it) and reads no target.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import requests

from connect_operator.binding import ClusterView, ConfigMapView
from connect_operator.connect_client import Deadline, client_for_target
from connect_operator.desired import desired_state
from connect_operator.errors import ConnectOperatorError, ManifestError
from connect_operator.ledger import read_ledger
from connect_operator.manifests import (
    ledger_configmaps,
    read_manifests,
    select_snapshot,
)
from connect_operator.plan import CLASS_KEY, Result
from connect_operator.plan_report import (
    PlanAction,
    PlanEntry,
    PlanReport,
    from_run_report,
    offline_entries,
    sort_entries,
)
from connect_operator.properties import Variables
from connect_operator.reconcile import RunReport, reconcile, secrets_redactor
from connect_operator.redaction import Redactor
from connect_operator.rejections import validated_config
from connect_operator.settings import Settings

log = logging.getLogger(__name__)

# Offline, no request is made: a Confluent Cloud target only needs credentials to resolve.
OFFLINE_PLACEHOLDER = "offline-placeholder"
_MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class PlanOptions:
    """What the command line asked for."""

    sources: tuple[str, ...]
    ledger_files: tuple[str, ...] = ()
    namespace: str | None = None
    offline: bool = False
    validate: bool = False
    show_secrets: bool = False


def make_plan(
    options: PlanOptions,
    variables: Variables,
    settings: Settings,
    stdin: TextIO,
    *,
    session: requests.Session | None = None,
) -> PlanReport:
    """Compute the plan; ManifestError or another PermanentError for input that cannot be read."""
    namespace = options.namespace or settings.own_namespace
    objects = read_manifests(options.sources, stdin)
    snapshot = select_snapshot(objects, settings, namespace)
    notes = [
        f"ConfigMap {cm.ref} matches CONNECTOR_LABEL_SELECTOR but its namespace is not watched"
        f" (WATCH_NAMESPACES={','.join(settings.watch_namespaces or ('*',))}): the hook would"
        " not see it, so it is not planned"
        for cm in snapshot.unwatched
    ]
    ledgers: tuple[ConfigMapView, ...] = ()
    for ledger_file in options.ledger_files:
        try:
            ledgers += ledger_configmaps(
                read_manifests([ledger_file], stdin), settings.ledger_name, namespace
            )
        except ManifestError as exc:
            raise ManifestError(f"--ledger {ledger_file}: {exc}") from None
    redactor = secrets_redactor(variables, settings)
    if options.offline:
        offline_settings = dataclasses.replace(
            settings,
            confluent_cloud_key=settings.confluent_cloud_key or OFFLINE_PLACEHOLDER,
            confluent_cloud_secret=settings.confluent_cloud_secret or OFFLINE_PLACEHOLDER,
        )
        owners: dict[tuple[str, str], str] = {}
        if ledgers:
            ledger = read_ledger(ledgers, settings.ledger_name)
            owners = {(e.target, e.connector): e.configmap for e in ledger.entries}
        desired = desired_state(
            snapshot.connectors,
            snapshot.clusters,
            variables,
            offline_settings,
            owners=owners,
            deadline=Deadline(settings.run_deadline),
        )
        entries = offline_entries(desired, options.show_secrets, redactor)
        return PlanReport(
            sort_entries(entries), notes=tuple(notes), offline=True, ledger=bool(ledgers)
        )
    view = ClusterView(
        connector_configmaps=snapshot.connectors,
        cluster_configmaps=snapshot.clusters,
        ledgers=ledgers,
        ledger_known=bool(ledgers),
    )
    session = session or requests.Session()
    deadline = Deadline(settings.run_deadline)
    report = reconcile(view, variables, settings, session=session, dry_run=True, deadline=deadline)
    entries, targets, errors = from_run_report(
        report,
        ledger_known=bool(ledgers),
        show_secrets=options.show_secrets,
        redactor=redactor,
        now=time.time(),
    )
    if options.validate:
        entries = _validated(entries, report, settings, session, deadline, redactor)
    return PlanReport(
        sort_entries(entries),
        tuple(targets),
        tuple(errors),
        tuple(notes),
        ledger=bool(ledgers),
    )


def _validated(
    entries: Sequence[PlanEntry],
    report: RunReport,
    settings: Settings,
    session: requests.Session,
    deadline: Deadline,
    redactor: Redactor,
) -> list[PlanEntry]:
    """Each create and update checked with Connect's validate endpoint; refused ones become
    `invalid`, with every key's error."""
    problems: dict[tuple[str, str], str] = {}
    for target_report in report.targets:
        if target_report.plan is None:
            continue
        target = target_report.target
        client = client_for_target(target, settings, deadline, session=session, redactor=redactor)
        for action in target_report.plan.actions:
            connector = action.desired
            if connector is None or not (action.kind is Result.CREATED or action.changed_keys):
                continue  # a state change alone sends no config
            plugin = connector.config.get(CLASS_KEY, "")
            try:
                result = client.validate_connector_plugin_config(
                    plugin, validated_config(connector), connector.secret_values()
                )
            except ConnectOperatorError as exc:
                # A missing plugin's message lists every plugin the cluster has: keep the start.
                message = str(exc)
                if len(message) > _MESSAGE_LIMIT:
                    message = message[:_MESSAGE_LIMIT] + " ..."
                problems[(target.id, connector.name)] = f"Connect's validation failed: {message}"
                continue
            if result.error_count:
                listed = "; ".join(f"{key}: {message}" for key, message in result.errors)
                problems[(target.id, connector.name)] = (
                    f"Connect's validation found {result.error_count} errors: {listed}"
                )
    return [
        dataclasses.replace(entry, action=PlanAction.INVALID, reason=problems[key])
        if (key := (entry.target or "", entry.connector or "")) in problems
        else entry
        for entry in entries
    ]
