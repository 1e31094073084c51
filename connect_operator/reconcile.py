"""Reconcile: observe each target once, plan purely, apply, and collect what happened.

`reconcile(view, variables, settings)` is the whole run, shared by the hook and the CLI:

    desired = render every declared key       (errors scoped to their ConfigMap key)
    for each target named by a connector or by the ledger:
        observed = one GET /connectors?expand=info&expand=status
        plan     = plan_target(...)            (pure)
        outcomes = apply(plan, client)         (the only code that writes to Connect)
    ledger   = what we own after this run      (written by the caller, only if it changed)

Failures are scoped: a key that does not render fails that key, a config Connect rejects fails
that connector, a target that cannot be listed fails that target. A run always finishes with a
report, so the hook can exit 0 and shell-operator applies the ledger changes and metrics of
everything that did work (it drops the outputs of a run that exits non-zero). Targets that
failed for a reason that may pass (unreachable, 5xx, rebalances that did not settle, the
deadline) go into the ledger's status, and the `retry` schedule reconciles again within a
minute; a permanent failure (credentials refused, an unknown cluster) waits for the resync or a
change, so it is never retried in a tight loop.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import requests

from connect_operator.binding import ClusterView
from connect_operator.connect_client import (
    ConnectClient,
    Deadline,
    ObservedConnector,
    client_for_target,
)
from connect_operator.desired import DesiredConnector, DesiredState, Source, desired_state
from connect_operator.errors import (
    ConnectHTTPError,
    ConnectOperatorError,
    ConnectUnavailable,
    CredentialsRejected,
    DeadlineExceeded,
    PermanentError,
    TemporaryError,
)
from connect_operator.ledger import (
    Ledger,
    LedgerChanges,
    LedgerEntry,
    RunStatus,
    entry_fields,
    ledger_changes,
    read_ledger,
)
from connect_operator.plan import (
    CLASS_KEY,
    Action,
    Lifecycle,
    Replaced,
    Result,
    TargetPlan,
    plan_target,
)
from connect_operator.properties import Variables
from connect_operator.redaction import Redactor
from connect_operator.rejections import ApplyGuard, Rejection, read_rejections
from connect_operator.restarts import (
    RecordChanges,
    RecordKey,
    RestartOutcome,
    RestartRecord,
    read_restart_records,
    record_changes,
    restart_failed,
)
from connect_operator.settings import Settings
from connect_operator.targets import Target, TargetKind, target_from_id

log = logging.getLogger(__name__)

UNAPPLIED_HASH = "unapplied"
# A Java stack trace can be long; the first part says why.
_TRACE_LIMIT = 2000


@dataclass(frozen=True)
class Outcome:
    """What happened to one connector (or one ConfigMap key) in this run.

    `result` finishes the sentence "connector x has been ...": created, updated, unchanged,
    deleted or failed. For a dry run it is what would have happened.
    """

    result: Result
    target_id: str | None
    connector: str | None
    source: Source | None
    message: str = ""
    temporary: bool = False
    changed_keys: tuple[str, ...] = ()
    planned: Result | None = None


@dataclass
class TargetReport:
    """One target's plan, outcomes and observed state."""

    target: Target
    plan: TargetPlan | None = None
    outcomes: list[Outcome] = field(default_factory=list)
    observed: dict[str, ObservedConnector] = field(default_factory=dict)
    failure: str | None = None
    # True when the failure cannot pass by itself (credentials refused, unknown cluster).
    failure_is_permanent: bool = False
    requests_sent: int = 0
    # What auto-restart did or decided for this target's failed connectors (restarts.py).
    restarts: list[RestartOutcome] = field(default_factory=list)
    # Connectors whose rejected, unchanged config was not sent again (rejections.py).
    held_back: set[str] = field(default_factory=set)

    @property
    def needs_retry(self) -> bool:
        """True when something failed here that a run in a minute may fix."""
        if self.failure:
            return not self.failure_is_permanent
        return any(outcome.temporary for outcome in self.outcomes)


@dataclass
class RunReport:
    """Everything one run did; the hook turns it into an exit code, a patch and metrics."""

    declaration_errors: list[Outcome] = field(default_factory=list)
    targets: list[TargetReport] = field(default_factory=list)
    # The ledger as this run's snapshot showed it, and what the run changes in it (None: do not
    # write, because the ledger was not in the snapshot or this is a dry run).
    ledger: Ledger = field(default_factory=Ledger)
    ledger_changes: LedgerChanges | None = None
    # What the next run needs to know (None: do not write it).
    status: RunStatus | None = None
    # Restart bookkeeping to write (None: do not write it).
    restart_changes: RecordChanges | None = None
    # Rejected configs as the snapshot showed them, and as this run leaves them.
    rejections: dict[tuple[str, str], Rejection] = field(default_factory=dict)
    rejections_after: dict[tuple[str, str], Rejection | None] = field(default_factory=dict)
    # For Events: the run's wall-clock time, the uids of the connector ConfigMaps, the secrets.
    wall_time: float = 0.0
    uids: dict[str, str] = field(default_factory=dict)
    redactor: Redactor = field(default_factory=lambda: Redactor(frozenset()))
    dry_run: bool = False
    # True for a retry tick that found nothing to retry and nothing changed.
    skipped: bool = False

    @property
    def outcomes(self) -> list[Outcome]:
        """Every outcome: declaration errors first, then per target."""
        return self.declaration_errors + [o for t in self.targets for o in t.outcomes]

    @property
    def temporary_failures(self) -> list[str]:
        """Messages of failures that a later run may fix."""
        failures = [t.failure for t in self.targets if t.failure and not t.failure_is_permanent]
        failures += [o.message for t in self.targets for o in t.outcomes if o.temporary]
        return failures

    @property
    def exit_code(self) -> int:
        """For the command line: 1 when something failed that may pass. (The hook exits 0 after
        any finished run, so that shell-operator applies its outputs.)"""
        return 1 if self.temporary_failures else 0

    @property
    def retry_targets(self) -> tuple[str, ...]:
        """Targets the `retry` schedule should reconcile again soon."""
        return tuple(sorted(t.target.id for t in self.targets if t.needs_retry))

    def counts(self) -> Counter[Result]:
        """How many connectors ended in each result."""
        return Counter(outcome.result for outcome in self.outcomes)


def secrets_redactor(variables: Variables, settings: Settings) -> Redactor:
    """Every secret this run knows of: variable values and the Confluent Cloud secret."""
    secrets = set(variables.secret_strings())
    if settings.confluent_cloud_secret:
        secrets.add(settings.confluent_cloud_secret)
    return Redactor(secrets)


def reconcile(
    view: ClusterView,
    variables: Variables,
    settings: Settings,
    *,
    session: requests.Session | None = None,
    dry_run: bool = False,
    deadline: Deadline | None = None,
    sleep: Callable[[float], None] = time.sleep,
    now: Callable[[], float] = time.time,
) -> RunReport:
    """Make every target match the declared connectors; see the module docstring.

    `sleep` is what the Connect clients wait with between retries (tests pass one that
    advances the `deadline`'s clock instead of sleeping); `now` is the wall clock of the
    restart back-off (its bookkeeping outlives the process)."""
    deadline = deadline or Deadline(settings.run_deadline)
    redactor = secrets_redactor(variables, settings)
    ledger = read_ledger(view.ledgers, settings.ledger_name) if view.ledger_known else Ledger()
    if nothing_to_retry(view, ledger):
        # Returns at once: no render, no request. The run that saw these inputs reported them.
        log.debug("retry tick: no target to retry and no ConfigMap changed since the last run")
        return RunReport(
            dry_run=dry_run, wall_time=now(), redactor=redactor, ledger=ledger, skipped=True
        )
    session = session or requests.Session()
    listings = _Listings(
        session,
        settings,
        deadline,
        redactor,
        len({entry.target for entry in ledger.entries}),
        sleep,
    )
    desired = desired_state(
        view.declared_configmaps(),
        view.cluster_configmaps,
        variables,
        settings,
        owners={(e.target, e.connector): e.configmap for e in ledger.entries},
        deadline=deadline,
        ledger=ledger.entries,
        observe=listings.observe,
    )
    report = RunReport(dry_run=dry_run, wall_time=now(), redactor=redactor)
    report.uids = {cm.ref: cm.uid for cm in view.declared_configmaps() if cm.uid}
    for error in desired.errors:
        log.error(
            "ConfigMap %s key %s is not a connector: %s",
            error.source.configmap,
            error.source.key,
            error.message,
            extra={
                "configmap": error.source.configmap,
                "key": error.source.key,
                "action": "failed",
            },
        )
        report.declaration_errors.append(
            Outcome(Result.FAILED, None, None, error.source, error.message)
        )

    report.ledger = ledger
    owned = ledger.entries
    owned_by_target: dict[str, list[LedgerEntry]] = defaultdict(list)
    for entry in owned:
        owned_by_target[entry.target].append(entry)
    targets = dict(desired.targets())
    unresolved_entries: list[LedgerEntry] = []
    for target_id, entries in sorted(owned_by_target.items()):
        if target_id in targets:
            continue
        try:
            targets[target_id] = target_from_id(settings, target_id)
        except PermanentError as exc:
            failure = (
                f"target {target_id} of {len(entries)} owned connectors cannot be reached: {exc};"
                " its connectors stay owned, and are not retried before the next resync"
            )
            log.error("%s", failure, extra={"target": target_id, "action": "failed"})
            report.targets.append(
                TargetReport(
                    target=Target(id=target_id, base_url=""),
                    failure=failure,
                    failure_is_permanent=True,
                )
            )
            unresolved_entries += entries

    new_ledger: list[LedgerEntry] = list(unresolved_entries)
    restart_records = read_restart_records(view.ledgers) if view.ledger_known else {}
    records_after: list[tuple[RecordKey, RestartRecord | None]] = []
    report.rejections = read_rejections(view.ledgers) if view.ledger_known else {}
    for index, target_id in enumerate(sorted(targets)):
        target = targets[target_id]
        # Each target gets a fair share of the time left, so one that keeps failing (and
        # retrying) cannot use up the run's deadline and starve the healthy ones.
        share = deadline.remaining() / (len(targets) - index)
        client = client_for_target(
            target,
            settings,
            deadline.share(share),
            session=session,
            redactor=redactor,
            sleep=sleep,
        )
        target_connectors = [c for c in desired.connectors if c.target.id == target_id]
        guard = (
            ApplyGuard(target_id, client, report.rejections, now())
            if not dry_run and target.kind is TargetKind.SELF_MANAGED
            else None
        )
        target_report = _reconcile_target(
            target,
            client,
            lambda target, client=client: listings.listing(target, client),  # type: ignore[misc]
            target_connectors,
            owned_by_target.get(target_id, []),
            desired,
            view,
            settings,
            dry_run,
            guard,
        )
        if guard is not None and target_report.plan is not None:
            guard.forget_undeclared(c.name for c in target_connectors if c.enabled)
            report.rejections_after.update(guard.after)
            target_report.held_back = set(guard.held)
        if not dry_run and target_report.plan and target.kind is TargetKind.SELF_MANAGED:
            target_report.restarts, after = restart_failed(
                settings.restart_policy,
                target_id,
                client,
                target_report.observed,
                target_connectors,
                [o.connector or "" for o in target_report.outcomes if o.result is Result.UNCHANGED],
                restart_records,
                now(),
            )
            records_after += after
        target_report.requests_sent = client.requests_sent + listings.requests_sent(target)
        report.targets.append(target_report)
        new_ledger += _ledger_after(target_report, owned_by_target.get(target_id, []))

    report.targets.sort(key=lambda t: t.target.id)
    if view.ledger_known and not dry_run:
        report.ledger_changes = ledger_changes(ledger, new_ledger)
        report.restart_changes = record_changes(restart_records, records_after)
        if view.is_full:
            report.status = RunStatus(report.retry_targets, view.inputs_digest())
    return report


def nothing_to_retry(view: ClusterView, ledger: Ledger) -> bool:
    """True for a run made only of `retry` ticks when the last run left no target to retry and
    no connector or cluster ConfigMap changed since (shell-operator may fold an event into a
    tick, so the inputs are compared too). A stale snapshot errs towards reconciling."""
    status = ledger.status
    return (
        view.only_retry_ticks
        and view.is_full
        and status is not None
        and not status.retry_targets
        and status.inputs == view.inputs_digest()
    )


class _Listings:
    """One client and one listing per target, shared by the render cache and the plan."""

    def __init__(
        self,
        session: requests.Session,
        settings: Settings,
        deadline: Deadline,
        redactor: Redactor,
        expected_targets: int,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._session = session
        self._sleep = sleep
        self._settings = settings
        self._deadline = deadline
        # Like the apply loop's clients, a listing gets a fair share of the time left, so a
        # target that keeps failing cannot use up the deadline before the others are listed.
        self._targets_left = max(1, expected_targets)
        self._redactor = redactor
        self._clients: dict[str, ConnectClient] = {}
        self._listings: dict[str, dict[str, ObservedConnector] | ConnectOperatorError] = {}

    def client(self, target: Target) -> ConnectClient:
        """The target's client, made once."""
        if target.id not in self._clients:
            share = self._deadline.remaining() / self._targets_left
            self._targets_left = max(1, self._targets_left - 1)
            self._clients[target.id] = client_for_target(
                target,
                self._settings,
                self._deadline.share(share),
                session=self._session,
                redactor=self._redactor,
                sleep=self._sleep,
            )
        return self._clients[target.id]

    def listing(
        self, target: Target, client: ConnectClient | None = None
    ) -> dict[str, ObservedConnector]:
        """`GET /connectors?expand=...` once per run (with `client` if it is not made yet); a
        failure is raised again each time."""
        if target.id not in self._listings:
            try:
                self._listings[target.id] = (
                    client or self.client(target)
                ).list_connectors_expanded()
            except (TemporaryError, PermanentError) as exc:
                self._listings[target.id] = exc
        found = self._listings[target.id]
        if isinstance(found, ConnectOperatorError):
            raise found
        return found

    def requests_sent(self, target: Target) -> int:
        """Requests the target's listing client made."""
        client = self._clients.get(target.id)
        return client.requests_sent if client is not None else 0

    def observe(self, target: Target) -> dict[str, ObservedConnector] | None:
        """The listing, or None when the target cannot be listed (reported later, once)."""
        try:
            return self.listing(target)
        except (TemporaryError, PermanentError):
            return None


def _reconcile_target(
    target: Target,
    client: ConnectClient,
    list_connectors: Callable[[Target], dict[str, ObservedConnector]],
    connectors: list[DesiredConnector],
    owned: list[LedgerEntry],
    desired: DesiredState,
    view: ClusterView,
    settings: Settings,
    dry_run: bool,
    guard: ApplyGuard | None = None,
) -> TargetReport:
    report = TargetReport(target=target)
    try:
        report.observed = list_connectors(target)
        _complete_listing(client, report.observed, connectors, owned)
    except (TemporaryError, PermanentError) as exc:
        # Credentials refused (401/403), an unknown cluster: retrying cannot fix them. Report
        # them plainly, keep the other targets' results, and wait for the resync, not a loop.
        report.failure_is_permanent = isinstance(exc, PermanentError)
        report.failure = _target_failure(target, exc)
        log.error("%s", report.failure, extra={"target": target.id, "action": "failed"})
        report.outcomes = [
            Outcome(
                Result.FAILED,
                target.id,
                c.name,
                c.source,
                "target unavailable",
                temporary=not report.failure_is_permanent,
            )
            for c in connectors
        ]
        return report
    plan = plan_target(
        target.id,
        connectors,
        report.observed,
        owned,
        broken_sources=desired.broken_sources,
        contested=desired.contested.get(target.id, frozenset()),
        scope=view.scope,
        max_deletes=settings.max_deletes,
        server_rewrites_config=target.server_rewrites_config,
    )
    report.plan = plan
    if plan.refused_deletes:
        log.error(
            "refusing to delete %d connectors on %s in one run (CONNECT_OPERATOR_MAX_DELETES=%s):"
            " %s; nothing was deleted. If these deletions are intended, set"
            " CONNECT_OPERATOR_MAX_DELETES=%d (or -1 for no limit) on the operator for one run,"
            " then set it back; or delete in batches of at most %s",
            len(plan.refused_deletes),
            target.id,
            settings.max_deletes,
            ", ".join(plan.refused_deletes),
            len(plan.refused_deletes),
            settings.max_deletes,
            extra={"target": target.id, "action": "refused"},
        )
    report.outcomes = (
        [_planned_outcome(action) for action in plan.actions]
        if dry_run
        else apply(plan, client, guard)
    )
    report.outcomes += [_replaced_outcome(target.id, replaced) for replaced in plan.replaced]
    _log_observed_health(target, client, report.observed, connectors)
    return report


def _complete_listing(
    client: ConnectClient,
    observed: dict[str, ObservedConnector],
    connectors: Iterable[DesiredConnector],
    owned: Iterable[LedgerEntry],
) -> None:
    """Fail closed: a listing without configs (a server that ignored `expand`) must never be
    read as "everything changed" (a PUT restarts, on Confluent Cloud re-provisions, each one).
    Fetch the config of every declared or owned connector it lacks (an owned one is checked to
    be ours before it is pruned); any failure fails the target."""
    names = {c.name for c in connectors if c.enabled} | {entry.connector for entry in owned}
    for name in sorted(names):
        current = observed.get(name)
        if current is not None and current.config is None:
            try:
                observed[name] = replace(current, config=client.get_connector_config(name))
            except ConnectHTTPError as exc:
                if exc.status != 404:
                    raise
                del observed[name]  # deleted since the listing: it is simply not there


def _target_failure(target: Target, exc: Exception) -> str:
    """A plain sentence on why a target failed, and when it is tried again."""
    status = exc.status if isinstance(exc, ConnectHTTPError) else None
    if status in (401, 403):
        why = (
            f"it refuses our credentials ({status}): check CONNECT_REST_KEY and"
            " CONNECT_REST_SECRET (Confluent Cloud) or the Connect URL's auth"
        )
    elif status == 404 and target.server_rewrites_config:
        why = "Confluent Cloud knows no such environment or cluster (404): check its ConfigMap"
    else:
        why = f"cannot list connectors: {exc}"
    when = (
        "not retried before the next resync or change"
        if isinstance(exc, PermanentError)
        else "retried within a minute (CONNECT_OPERATOR_RETRY_SCHEDULE)"
    )
    return f"target {target.id}: {why}; {when}"


def apply(
    plan: TargetPlan, client: ConnectClient, guard: ApplyGuard | None = None
) -> list[Outcome]:
    """Carry out a plan: deletes first, then creates and updates. The only writer to Connect.

    A `guard` (self-managed targets) validates each config before it is written, and holds back
    an unchanged config Connect already rejected (see rejections.py)."""
    order = {Result.DELETED: 0, Result.CREATED: 1, Result.UPDATED: 1, Result.UNCHANGED: 2}
    outcomes: list[Outcome] = []
    gave_up: str | None = None
    # Whether what stopped the writes may pass by itself (Connect away) or not (credentials).
    gave_up_temporary = True
    for action in sorted(plan.actions, key=lambda a: (order[a.kind], a.connector)):
        writes_config = False
        if action.kind is Result.UNCHANGED:
            outcomes.append(_log_outcome(action, Result.UNCHANGED))
            continue
        if gave_up:
            outcomes.append(
                _log_outcome(action, Result.FAILED, f"not attempted: {gave_up}", gave_up_temporary)
            )
            continue
        try:
            if action.kind is Result.DELETED:
                client.delete_connector(action.connector)
                outcomes.append(_log_outcome(action, Result.DELETED))
            else:
                assert action.desired is not None
                writes_config = action.kind is Result.CREATED or bool(action.changed_keys)
                if writes_config and guard is not None:
                    held = guard.held_back(action.desired)
                    if held:
                        outcomes.append(_held_back_outcome(action, held))
                        continue
                    guard.validate(action.desired)
                initial = initial_state(action, client)
                if writes_config and initial:
                    client.create_connector(
                        action.connector,
                        action.desired.config,
                        initial,
                        action.desired.secret_values(),
                    )
                elif writes_config:
                    client.put_connector_config(
                        action.connector, action.desired.config, action.desired.secret_values()
                    )
                    if guard is not None:
                        guard.accepted(action.desired)
                    writes_config = False  # written: a later error is not the config's
                if initial:
                    pass  # created in its declared state: no call, and no moment of running
                elif action.lifecycle is Lifecycle.PAUSE:
                    client.pause_connector(action.connector)
                elif action.lifecycle is Lifecycle.RESUME:
                    client.resume_connector(action.connector)
                elif action.lifecycle is Lifecycle.STOP:
                    client.stop_connector(action.connector)
                # From the plan, not the status code: Confluent Cloud answers 200 to a create.
                outcomes.append(_log_outcome(action, action.kind))
        except (ConnectUnavailable, DeadlineExceeded) as exc:
            gave_up = str(exc)
            outcomes.append(_log_outcome(action, Result.FAILED, str(exc), True))
        except CredentialsRejected as exc:  # every further call would be refused too
            gave_up = str(exc)
            gave_up_temporary = False  # so the rest waits for the resync, as this one does
            outcomes.append(_log_outcome(action, Result.FAILED, str(exc), False))
        except TemporaryError as exc:
            outcomes.append(_log_outcome(action, Result.FAILED, str(exc), True))
        except PermanentError as exc:
            outcomes.append(_log_outcome(action, Result.FAILED, str(exc), False))
            if guard is not None and action.desired is not None and writes_config:
                guard.rejected(action.desired, exc)
    return outcomes


def initial_state(action: Action, client: ConnectClient) -> str:
    """`PAUSED` or `STOPPED` when a connector declared so can be created directly in that state
    (`POST /connectors` with `initial_state`, Kafka Connect 3.7+, KIP-980), so that it never
    runs; "" otherwise: it is then created and paused or stopped in the same run."""
    if action.kind is not Result.CREATED or action.lifecycle is None:
        return ""
    wanted = {Lifecycle.PAUSE: "PAUSED", Lifecycle.STOP: "STOPPED"}.get(action.lifecycle, "")
    return wanted if wanted and client.supports_initial_state() else ""


def _held_back_outcome(action: Action, message: str) -> Outcome:
    """A rejected config not sent again: still failed, logged by the guard as a warning."""
    return Outcome(
        Result.FAILED,
        action.target_id,
        action.connector,
        action.source,
        message,
        False,
        action.changed_keys,
        action.kind,
    )


def _replaced_outcome(target_id: str, replaced: Replaced) -> Outcome:
    message = (
        f"not deleted although ConfigMap {replaced.source.configmap} key {replaced.source.key}"
        f" no longer declares it: {replaced.reason}; someone replaced it. Delete it by hand if"
        " it should go, or declare it again"
    )
    log.error(
        "connector %s has failed to be deleted: %s",
        replaced.connector,
        message,
        extra={
            "connector": replaced.connector,
            "target": target_id,
            "action": Result.FAILED.value,
            "configmap": replaced.source.configmap,
            "key": replaced.source.key,
        },
    )
    return Outcome(
        Result.FAILED, target_id, replaced.connector, replaced.source, message, planned=None
    )


def _planned_outcome(action: Action) -> Outcome:
    return Outcome(
        action.kind,
        action.target_id,
        action.connector,
        action.source,
        action.reason,
        changed_keys=action.changed_keys,
        planned=action.kind,
    )


def _log_outcome(
    action: Action, result: Result, message: str = "", temporary: bool = False
) -> Outcome:
    if result is Result.UNCHANGED:
        if log.isEnabledFor(logging.DEBUG):  # most connectors, most runs: skip the context
            log.debug(
                "connector %s has been unchanged",
                action.connector,
                extra=_outcome_context(action, result),
            )
    elif result is Result.FAILED:
        log.error(
            "connector %s has failed to be %s: %s",
            action.connector,
            action.kind.value,
            message,
            extra=_outcome_context(action, result),
        )
    else:
        detail = f" (keys: {', '.join(action.changed_keys)})" if action.changed_keys else ""
        log.info(
            "connector %s has been %s: %s%s",
            action.connector,
            result.value,
            action.reason,
            detail,
            extra=_outcome_context(action, result),
        )
    return Outcome(
        result,
        action.target_id,
        action.connector,
        action.source,
        message or action.reason,
        temporary,
        action.changed_keys,
        action.kind,
    )


def _outcome_context(action: Action, result: Result) -> dict[str, str | None]:
    return {
        "connector": action.connector,
        "target": action.target_id,
        "action": result.value,
        "configmap": action.source.configmap if action.source else None,
        "key": action.source.key if action.source else None,
    }


def _log_observed_health(
    target: Target,
    client: ConnectClient,
    observed: dict[str, ObservedConnector],
    connectors: Iterable[DesiredConnector],
) -> None:
    """Say what each declared connector is doing, at the level it deserves.

    - `PROVISIONING` (Confluent Cloud still setting it up, as after every create) and `PAUSED`
      (a state, not an outage) are information, not alerts.
    - `DEGRADED` (Confluent Cloud: some tasks failing) and failed tasks are warnings.
    - `FAILED` is an error with its reason: the trace from the listing, or from
      `GET /connectors/{name}/status` when the listing lacks it. Traces are redacted.
    """
    for connector in connectors:
        current = observed.get(connector.name)
        if current is None or not connector.enabled:
            continue
        if (
            current.state == "RUNNING"
            and not current.status_problem
            and all(state != "FAILED" for _, state in current.tasks)
        ):
            continue  # healthy: nothing to say (most connectors, every run)
        context = {
            "connector": connector.name,
            "target": target.id,
            "configmap": connector.source.configmap,
            "key": connector.source.key,
        }
        if current.status_problem:
            log.warning(
                "connector %s has a status that cannot be read: %s",
                connector.name,
                current.status_problem,
                extra=context,
            )
            continue
        failed_tasks = [task for task, state in current.tasks if state == "FAILED"]
        if current.state == "FAILED":
            trace = current.trace
            if not trace:
                try:
                    trace = client.get_connector_status(connector.name).trace
                except ConnectOperatorError as exc:
                    trace = f"its status could not be read: {exc}"
            log.error(
                "connector %s is FAILED%s: %s",
                connector.name,
                f" with failed tasks {failed_tasks}" if failed_tasks else "",
                (trace or "the server gave no reason")[:_TRACE_LIMIT],
                extra=context,
            )
        elif current.state == "DEGRADED" or failed_tasks:
            log.warning(
                "connector %s is %s with failed tasks %s",
                connector.name,
                current.state,
                failed_tasks,
                extra=context,
            )
        elif current.state == "PROVISIONING":
            log.info(
                "connector %s is PROVISIONING: Confluent Cloud is still setting it up",
                connector.name,
                extra=context,
            )
        elif current.state == "PAUSED":
            log.info("connector %s is PAUSED", connector.name, extra=context)


def _ledger_after(report: TargetReport, owned: list[LedgerEntry]) -> list[LedgerEntry]:
    """What we own on this target after the run."""
    if report.plan is None:  # the target could not be observed: nothing changed there
        return list(owned)
    previous = {entry.connector: entry for entry in owned}
    declared = {
        action.connector: action.desired
        for action in report.plan.actions
        if action.desired is not None and action.desired.enabled
    }
    entries = list(report.plan.kept_entries)
    for outcome in report.outcomes:
        action_desired = declared.get(outcome.connector or "")
        if outcome.result in _APPLIED and action_desired is not None:
            entries.append(
                _entry(
                    action_desired,
                    action_desired.config_hash,
                    previous.get(outcome.connector or ""),
                )
            )
        elif outcome.result is Result.FAILED and outcome.connector is not None:
            old = previous.get(outcome.connector)
            if old is not None:
                # The old hash with the old inputs digest: the render cache reads that pair as
                # "this render gives what is live", so new inputs beside the old hash would
                # make the next run skip the update that failed here.
                entries.append(
                    old
                    if action_desired is None
                    else replace(_entry(action_desired, old.hash), inputs=old.inputs)
                )
            elif action_desired is not None and outcome.planned is Result.UPDATED:
                # It exists and is declared: own it, and make the next run compare in full.
                entries.append(_entry(action_desired, UNAPPLIED_HASH))
    return entries


_APPLIED = (Result.CREATED, Result.UPDATED, Result.UNCHANGED)


def _entry(
    connector: DesiredConnector, config_hash: str, previous: LedgerEntry | None = None
) -> LedgerEntry:
    """The ledger entry for an applied connector; `previous` itself when it is the same (most
    runs change no entry, and `ledger_changes` then sees at once that none changed)."""
    # In LedgerEntry's field order (`entry_fields`).
    fields = (
        connector.target.id,
        connector.name,
        connector.source.configmap,
        connector.source.key,
        config_hash,
        connector.config.get(CLASS_KEY, ""),
        connector.inputs,
    )
    if previous is not None and entry_fields(previous) == fields:
        return previous
    return LedgerEntry(*fields)
