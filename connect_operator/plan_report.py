"""What `connect-operator plan` shows: a plan per connector, a summary, three formats, an exit code.

The plan itself comes from the hook's own code: `reconcile(..., dry_run=True)` renders, observes
(one listing per target) and plans with `plan_target`, exactly as a hook run would, and writes
nothing. This module only turns that `RunReport` into `PlanEntry`s, one per connector:

- `create`, `update` (with each changed key and its old -> new value; secrets masked), `delete`,
  `state` (only the declared `state` differs from the live one: a pause, resume or stop call),
  `unchanged`: what the hook would do (a create or update that also changes the state says so);
- `invalid`: a ConfigMap key that does not become a connector (or that Connect's validation
  refuses with `--validate`), with the ConfigMap, key and reason;
- `refused`: a delete the hook would refuse (more than `CONNECT_OPERATOR_MAX_DELETES`);
- `replaced`: an owned connector that is no longer declared, but is no longer the one we applied
  either, so the hook reports it instead of deleting it;
- `not-declared`: without `--ledger`, a connector on the target that nothing declares: the hook
  prunes it if its ledger owns it, and leaves it alone otherwise;
- `declared`: with `--offline`, a connector that renders.

Then `format_text`, `format_markdown` and `format_json` print it, and `exit_code` follows
`terraform plan -detailed-exitcode`: 0 no changes, 1 error, 2 changes (only when asked).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from enum import Enum
from typing import Any

from connect_operator.desired import DesiredConnector, DesiredState
from connect_operator.normalize import normalise
from connect_operator.plan import Result
from connect_operator.reconcile import RunReport
from connect_operator.redaction import MASK, Redactor
from connect_operator.targets import TargetKind

FORMAT_VERSION = 1


class PlanAction(str, Enum):
    """What a plan line says will happen to a connector."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    STATE = "state"
    UNCHANGED = "unchanged"
    INVALID = "invalid"
    REFUSED = "refused"
    REPLACED = "replaced"
    NOT_DECLARED = "not-declared"
    DECLARED = "declared"


NOT_DECLARED_REASON = "nothing declares it: pruned if the ledger owns it, which --ledger shows"
CHANGES = (PlanAction.CREATE, PlanAction.UPDATE, PlanAction.DELETE, PlanAction.STATE)
ERRORS = (PlanAction.INVALID, PlanAction.REFUSED, PlanAction.REPLACED)
_FROM_RESULT = {
    Result.CREATED: PlanAction.CREATE,
    Result.UPDATED: PlanAction.UPDATE,
    Result.DELETED: PlanAction.DELETE,
    Result.UNCHANGED: PlanAction.UNCHANGED,
}


@dataclass(frozen=True)
class KeyChange:
    """One config key of an update: its value before and after (None: absent)."""

    key: str
    old: str | None
    new: str | None
    secret: bool = False


@dataclass(frozen=True)
class StateChange:
    """The declared `state` and the live one, and the call that makes them match."""

    live: str | None
    declared: str
    call: str


@dataclass(frozen=True)
class PlanEntry:
    """One line of the plan."""

    action: PlanAction
    target: str | None
    connector: str | None
    configmap: str | None = None
    key: str | None = None
    reason: str = ""
    changes: tuple[KeyChange, ...] = ()
    # For create and declared: the config as it would be sent (secrets masked unless shown).
    config: Mapping[str, str] | None = None
    state: StateChange | None = None


@dataclass(frozen=True)
class TargetSummary:
    """A target the plan read: its URL, the requests made, and why it failed (if it did)."""

    id: str
    url: str
    requests: int = 0
    error: str | None = None


@dataclass(frozen=True)
class PlanReport:
    """Everything `plan` prints."""

    entries: tuple[PlanEntry, ...]
    targets: tuple[TargetSummary, ...] = ()
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    offline: bool = False
    ledger: bool = False

    def counts(self) -> Counter[PlanAction]:
        """How many lines of each action."""
        return Counter(entry.action for entry in self.entries)

    @property
    def has_changes(self) -> bool:
        """True when applying would create, update or delete something."""
        return any(entry.action in CHANGES for entry in self.entries)

    @property
    def has_errors(self) -> bool:
        """True when a target failed or a connector is invalid, refused or replaced."""
        return bool(self.errors) or any(entry.action in ERRORS for entry in self.entries)

    def exit_code(self, detailed: bool) -> int:
        """1 on any error; else 2 for changes when `detailed`; else 0 (terraform's rule)."""
        if self.has_errors:
            return 1
        return 2 if detailed and self.has_changes else 0

    def summary(self) -> str:
        """One line: how many of each, in a fixed order."""
        counts = self.counts()
        if self.offline:
            parts = [f"{counts[PlanAction.DECLARED]} connectors render"]
        else:
            parts = [
                f"{counts[PlanAction.CREATE]} to create",
                f"{counts[PlanAction.UPDATE]} to update",
                f"{counts[PlanAction.DELETE]} to delete",
                f"{counts[PlanAction.UNCHANGED]} unchanged",
            ]
            if counts[PlanAction.STATE]:
                parts.insert(3, f"{counts[PlanAction.STATE]} to change state")
        extra = (
            (PlanAction.INVALID, "invalid"),
            (PlanAction.REFUSED, "deletes refused"),
            (PlanAction.REPLACED, "replaced (not deleted)"),
            (PlanAction.NOT_DECLARED, "not declared (pruned if owned)"),
        )
        parts += [f"{counts[action]} {label}" for action, label in extra if counts[action]]
        if self.errors:
            parts.append(f"{len(self.errors)} target errors")
        return ("Offline: " if self.offline else "Plan: ") + ", ".join(parts) + "."


def _display(value: str | None, secret: bool, show_secrets: bool, redactor: Redactor) -> str | None:
    if value is None or show_secrets:
        return value
    return MASK if secret else redactor(value)


def _is_secret(
    connector: DesiredConnector, key: str, values: Iterable[str | None], redactor: Redactor
) -> bool:
    return key in connector.secret_keys or any(
        value is not None and redactor(value) != value for value in values
    )


def shown_config(
    connector: DesiredConnector, show_secrets: bool, redactor: Redactor
) -> dict[str, str]:
    """The config as it would be sent, secrets masked unless `show_secrets`."""
    return {
        key: value
        if show_secrets
        else (MASK if _is_secret(connector, key, [value], redactor) else value)
        for key, value in sorted(connector.config.items())
    }


def key_changes(
    connector: DesiredConnector,
    live: Mapping[str, str] | None,
    keys: Iterable[str],
    show_secrets: bool,
    redactor: Redactor,
) -> tuple[KeyChange, ...]:
    """Each changed key's old -> new value, normalised as the comparison saw them."""
    want = normalise(connector.config)
    have = normalise(live or {})
    changes = []
    for key in keys:
        old, new = have.get(key), want.get(key)
        secret = _is_secret(connector, key, (old, new), redactor)
        changes.append(
            KeyChange(
                key,
                _display(old, secret, show_secrets, redactor),
                _display(new, secret, show_secrets, redactor),
                secret,
            )
        )
    return tuple(changes)


def from_run_report(
    report: RunReport,
    *,
    ledger_known: bool,
    show_secrets: bool,
    redactor: Redactor,
    now: float,
) -> tuple[list[PlanEntry], list[TargetSummary], list[str]]:
    """Plan lines, targets and target errors from a dry-run reconcile.

    A create or update whose unchanged config Connect rejected before (remembered beside the
    ledger, see rejections.py) is `invalid`: the hook holds it back until its back-off passes
    (or the target's plugins change, which the plan does not read)."""
    entries = [_invalid(outcome.source, outcome.message) for outcome in report.declaration_errors]
    targets: list[TargetSummary] = []
    errors: list[str] = []
    for target_report in report.targets:
        target = target_report.target
        if target_report.failure or target_report.plan is None:
            message = target_failure_message(
                target_report.failure or "it was not planned", target.base_url
            )
            errors.append(message)
            targets.append(
                TargetSummary(target.id, target.base_url, target_report.requests_sent, message)
            )
            continue
        targets.append(TargetSummary(target.id, target.base_url, target_report.requests_sent))
        plan = target_report.plan
        observed = target_report.observed
        declared: set[str] = set()
        for action in plan.actions:
            connector = action.desired
            if connector is not None:
                declared.add(connector.name)
            kind = _FROM_RESULT[action.kind]
            live = observed.get(action.connector)
            state = None
            if connector is not None and action.lifecycle is not None:
                state = StateChange(
                    live.state if live else None, connector.state, action.lifecycle.value
                )
                if action.kind is Result.UPDATED and not action.changed_keys:
                    kind = PlanAction.STATE
            entry = PlanEntry(
                action=kind,
                target=target.id,
                connector=action.connector,
                configmap=action.source.configmap if action.source else None,
                key=action.source.key if action.source else None,
                reason=action.reason,
                state=state,
            )
            if connector is not None and kind is PlanAction.UPDATE:
                entry = _with(
                    entry,
                    changes=key_changes(
                        connector,
                        live.config if live else None,
                        action.changed_keys,
                        show_secrets,
                        redactor,
                    ),
                )
            elif connector is not None and action.kind is Result.CREATED:
                entry = _with(entry, config=shown_config(connector, show_secrets, redactor))
            rejection = report.rejections.get((target.id, action.connector))
            writes_config = action.kind is Result.CREATED or bool(action.changed_keys)
            if (
                connector is not None
                and writes_config
                and target.kind is TargetKind.SELF_MANAGED
                and rejection is not None
                and rejection.config_hash == connector.config_hash
                and now < rejection.resend_at()
            ):
                until = datetime.fromtimestamp(rejection.resend_at(), timezone.utc)
                entry = _with(
                    entry,
                    action=PlanAction.INVALID,
                    reason=(
                        f"Connect rejected this config ({rejection.times} times) and it has not"
                        " changed: the hook does not send it again until its declaration or"
                        " variables change, the target's plugins change, or"
                        f" {until:%Y-%m-%d %H:%M:%S} UTC; would {kind.value}"
                    ),
                )
            entries.append(entry)
        for outcome in target_report.outcomes:
            if outcome.connector and outcome.source and outcome.planned is None:
                declared.add(outcome.connector)
                entries.append(
                    PlanEntry(
                        PlanAction.REPLACED,
                        target.id,
                        outcome.connector,
                        outcome.source.configmap,
                        outcome.source.key,
                        redactor(outcome.message),
                    )
                )
        for name in plan.refused_deletes:
            declared.add(name)
            entries.append(
                PlanEntry(
                    PlanAction.REFUSED,
                    target.id,
                    name,
                    reason=(
                        f"{len(plan.refused_deletes)} deletes on {target.id} exceed"
                        " CONNECT_OPERATOR_MAX_DELETES: the hook would delete none of them"
                    ),
                )
            )
        if not ledger_known:
            declared |= {
                desired_connector.name for desired_connector in _all_declared(plan.actions)
            }
            for name in sorted(set(observed) - declared):
                entries.append(
                    PlanEntry(
                        PlanAction.NOT_DECLARED,
                        target.id,
                        name,
                        reason=NOT_DECLARED_REASON,
                    )
                )
    return entries, targets, errors


def _all_declared(actions: Iterable[Any]) -> list[DesiredConnector]:
    return [action.desired for action in actions if action.desired is not None]


def offline_entries(
    desired: DesiredState, show_secrets: bool, redactor: Redactor
) -> list[PlanEntry]:
    """Plan lines without a target: what renders, and what does not."""
    entries = [_invalid(error.source, error.message) for error in desired.errors]
    for connector in desired.connectors:
        entries.append(
            PlanEntry(
                PlanAction.DECLARED,
                connector.target.id,
                connector.name,
                connector.source.configmap,
                connector.source.key,
                "must exist" if connector.enabled else 'must not exist (enabled is not "true")',
                config=shown_config(connector, show_secrets, redactor),
            )
        )
    return entries


def _invalid(source: Any, message: str) -> PlanEntry:
    return PlanEntry(
        PlanAction.INVALID,
        None,
        None,
        source.configmap if source else None,
        source.key if source else None,
        message,
    )


def _with(entry: PlanEntry, **changes: Any) -> PlanEntry:
    return replace(entry, **changes)


def target_failure_message(failure: str, url: str) -> str:
    """The hook's sentence on a failed target, without its retry schedule, with what to check."""
    head, _, tail = failure.rpartition("; ")
    if head and ("retried" in tail or "resync" in tail):
        failure = head
    if "cannot list connectors" in failure and "refuses our credentials" not in failure:
        failure += f" (is {url} reachable from here? check CONNECT_URL or CONFLUENT_CLOUD_API_URL)"
    return failure


def sort_entries(entries: Iterable[PlanEntry]) -> tuple[PlanEntry, ...]:
    """Invalid first, then by target and connector."""
    return tuple(
        sorted(
            entries,
            key=lambda e: (
                e.action is not PlanAction.INVALID,
                e.target or "",
                e.connector or "",
                e.configmap or "",
                e.key or "",
            ),
        )
    )


# -- formats ---------------------------------------------------------------------------------

_SYMBOL = {
    PlanAction.CREATE: "+",
    PlanAction.UPDATE: "~",
    PlanAction.DELETE: "-",
    PlanAction.STATE: "~",
    PlanAction.UNCHANGED: " ",
    PlanAction.INVALID: "!",
    PlanAction.REFUSED: "!",
    PlanAction.REPLACED: "!",
    PlanAction.NOT_DECLARED: "?",
    PlanAction.DECLARED: "*",
}


def _quoted(value: str | None) -> str:
    return "(absent)" if value is None else json.dumps(value)


def _source(entry: PlanEntry) -> str:
    if entry.configmap is None:
        return ""
    return f"ConfigMap {entry.configmap} key {entry.key}"


def format_text(plan: PlanReport) -> str:
    """Terminal output: one line per connector (details indented), then the summary."""
    lines: list[str] = []
    for error in plan.errors:
        lines.append(f"error: {error}")
    for note in plan.notes:
        lines.append(f"note: {note}")
    for entry in plan.entries:
        symbol = _SYMBOL[entry.action]
        action = entry.action.value
        if entry.action is PlanAction.INVALID:
            lines.append(f"{symbol} {action:<12} {_source(entry)}: {entry.reason}")
            for change in entry.changes:
                lines.append(f"      {change.key}: {_quoted(change.old)} -> {_quoted(change.new)}")
            continue
        where = f" on {entry.target}" if entry.target else ""
        source = _source(entry)
        detail = f"  ({source})" if source and entry.action is not PlanAction.DELETE else ""
        if entry.action in (
            PlanAction.DELETE,
            PlanAction.REFUSED,
            PlanAction.REPLACED,
            PlanAction.NOT_DECLARED,
        ):
            detail = f"  ({entry.reason})"
        lines.append(f"{symbol} {action:<12} {entry.connector}{where}{detail}")
        for change in entry.changes:
            lines.append(f"      {change.key}: {_quoted(change.old)} -> {_quoted(change.new)}")
        if entry.state is not None:
            live = entry.state.live or "(absent)"
            lines.append(f"      state: {live} -> {entry.state.declared} ({entry.state.call})")
        if entry.config is not None and entry.action is PlanAction.CREATE:
            for key, value in entry.config.items():
                lines.append(f"      {key} = {_quoted(value)}")
    if not plan.entries and not plan.errors:
        lines.append("No connectors declared or found.")
    lines.append(plan.summary())
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _code(text: str | None) -> str:
    if text is None:
        return "*(absent)*"
    inner = _cell(text).replace("`", "'")
    return f"`{inner}`"


def format_markdown(plan: PlanReport) -> str:
    """A pull-request comment: summary, errors, then a table of everything that is not
    unchanged (unchanged connectors are counted in the summary and listed in a fold)."""
    lines = ["### connect-operator plan", "", f"**{plan.summary()}**", ""]
    for error in plan.errors:
        lines.append(f"> **Error:** {_cell(error)}")
    for note in plan.notes:
        lines.append(f"> Note: {_cell(note)}")
    if plan.errors or plan.notes:
        lines.append("")
    shown = [e for e in plan.entries if e.action is not PlanAction.UNCHANGED]
    if shown:
        lines += [
            "| action | connector | target | declared in | details |",
            "|---|---|---|---|---|",
        ]
        for entry in shown:
            if entry.changes:
                details = "<br>".join(
                    f"{_code(c.key)}: {_code(c.old)} → {_code(c.new)}" for c in entry.changes
                )
                if entry.action is PlanAction.INVALID:
                    details = f"{_cell(entry.reason)}<br>{details}"
            elif entry.action is PlanAction.CREATE and entry.config is not None:
                details = f"{len(entry.config)} keys"
            else:
                details = _cell(entry.reason)
            if entry.state is not None:
                state = (
                    f"state: {_code(entry.state.live)} → {_code(entry.state.declared)}"
                    f" ({entry.state.call})"
                )
                details = state if entry.action is PlanAction.STATE else f"{details}<br>{state}"
            declared = f"{_code(entry.configmap)} key {_code(entry.key)}" if entry.configmap else ""
            connector = _code(entry.connector) if entry.connector else ""
            lines.append(
                f"| **{entry.action.value}** | {connector} | {_cell(entry.target or '')}"
                f" | {declared} | {details} |"
            )
    unchanged = [e for e in plan.entries if e.action is PlanAction.UNCHANGED]
    if unchanged:
        names = ", ".join(_code(e.connector) for e in unchanged)
        lines += [
            "",
            f"<details><summary>{len(unchanged)} unchanged</summary>",
            "",
            names,
            "",
            "</details>",
        ]
    return "\n".join(lines)


def plan_document(plan: PlanReport) -> dict[str, Any]:
    """The machine-readable plan (schema in the README, `format_version` 1)."""
    counts = plan.counts()
    return {
        "format_version": FORMAT_VERSION,
        "mode": "offline" if plan.offline else "online",
        "ledger": plan.ledger,
        "changes": plan.has_changes,
        "errors": list(plan.errors),
        "notes": list(plan.notes),
        "summary": {action.value: counts[action] for action in PlanAction},
        "targets": [
            {"id": t.id, "url": t.url, "requests": t.requests, "error": t.error}
            for t in plan.targets
        ],
        "connectors": [
            {
                "action": entry.action.value,
                "target": entry.target,
                "connector": entry.connector,
                "configmap": entry.configmap,
                "key": entry.key,
                "reason": entry.reason,
                "changes": [
                    {"key": c.key, "old": c.old, "new": c.new, "secret": c.secret}
                    for c in entry.changes
                ],
                "config": dict(entry.config) if entry.config is not None else None,
                "state": None
                if entry.state is None
                else {
                    "live": entry.state.live,
                    "declared": entry.state.declared,
                    "call": entry.state.call,
                },
            }
            for entry in plan.entries
        ],
    }


def format_json(plan: PlanReport) -> str:
    """`plan_document` as indented JSON."""
    return json.dumps(plan_document(plan), indent=2, sort_keys=False)
