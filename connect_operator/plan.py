"""Plan: decide, purely, what to do on one target. No I/O happens here.

`plan_target(...)` compares the desired connectors of one target with what Connect reports and
what the ledger owns, and returns frozen `Action`s:

- create what is declared and missing;
- update only what differs after normalisation;
- delete what `enabled: "false"` says must not exist (owned or not, as the original operator did);
- prune what the ledger owns but nothing declares any more, unless its source is broken, outside
  this run's scope, contested by two ConfigMaps, or no longer the connector we applied (its class
  or config changed under us: then it is reported, not deleted);
- when the deletes of both kinds together exceed `max_deletes`, delete nothing and report the
  refusal instead.

Foreign connectors (not in the ledger, not declared) are never touched. A declared connector
that the listing shows without a config is never planned from it: `plan_target` refuses it
(ValueError), and reconcile fetches such configs before planning.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from connect_operator.connect_client import ObservedConnector
from connect_operator.desired import DesiredConnector, Source
from connect_operator.ledger import LedgerEntry, entry_fields
from connect_operator.normalize import changed_keys
from connect_operator.templating import config_hash

CLASS_KEY = "connector.class"


class Result(str, Enum):
    """What happened to a connector; the values finish "connector x has been ...".

    A plan uses the same words for what it means to happen (never `failed`).
    """

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"
    FAILED = "failed"


class Lifecycle(str, Enum):
    """`PUT /connectors/{name}/<value>`: what makes the live state the declared `state`."""

    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


def lifecycle_call(declared: str, live: str | None, exists: bool) -> Lifecycle | None:
    """The call that turns the live state into the declared one (running, paused, stopped);
    None when none is needed, or when the live state is unknown (then nothing is done)."""
    if not exists:
        return {"paused": Lifecycle.PAUSE, "stopped": Lifecycle.STOP}.get(declared)
    if live is None:
        return None
    if declared == "running":
        return Lifecycle.RESUME if live in ("PAUSED", "STOPPED") else None
    if declared == "paused":
        return Lifecycle.PAUSE if live != "PAUSED" else None
    if declared == "stopped":
        return Lifecycle.STOP if live != "STOPPED" else None
    return None


@dataclass(frozen=True)
class Action:
    """One decision for one connector on one target: `kind` is the result it aims at."""

    kind: Result
    target_id: str
    connector: str
    reason: str
    source: Source | None = None
    desired: DesiredConnector | None = None
    changed_keys: tuple[str, ...] = ()
    # The lifecycle call that makes the live state the declared one, after any config PUT.
    lifecycle: Lifecycle | None = None


@dataclass(frozen=True)
class Replaced:
    """An owned connector that should be pruned but is no longer the one we applied."""

    connector: str
    source: Source
    reason: str


@dataclass(frozen=True)
class TargetPlan:
    """Everything decided for one target."""

    target_id: str
    actions: tuple[Action, ...]
    # Connectors that should be deleted but were not, because there were too many deletes.
    refused_deletes: tuple[str, ...] = ()
    # Ledger entries that stay as they are (protected, out of scope, refused, replaced).
    kept_entries: tuple[LedgerEntry, ...] = field(default_factory=tuple)
    replaced: tuple[Replaced, ...] = ()


def plan_target(
    target_id: str,
    desired: Sequence[DesiredConnector],
    observed: Mapping[str, ObservedConnector],
    owned: Sequence[LedgerEntry],
    *,
    broken_sources: Collection[Source] = frozenset(),
    contested: Collection[str] = frozenset(),
    scope: Collection[str] | None = None,
    max_deletes: int | None = None,
    server_rewrites_config: bool = False,
) -> TargetPlan:
    """Decide what to do on one target. Pure: same inputs, same plan."""
    last_hash = {entry.connector: entry.hash for entry in owned}
    actions: list[Action] = []
    wanted = {c.name: c for c in desired if c.enabled}
    unwanted = {c.name: c for c in desired if not c.enabled and c.name not in wanted}

    for name in sorted(wanted):
        connector = wanted[name]
        current = observed.get(name)
        if current is None:
            call = lifecycle_call(connector.state, None, exists=False)
            reason = "declared and missing" + (f", then {connector.state}" if call else "")
            actions.append(_action(Result.CREATED, connector, reason, lifecycle=call))
            continue
        live = current.normalised_config
        if live is None:
            # Fail closed: "no config listed" is not "everything changed" (every run would PUT,
            # restarting or re-provisioning each connector). The caller fetches it first.
            raise ValueError(f"the listing of {target_id} carries no config for {name}")
        keys = changed_keys(
            connector.config,
            live,
            desired_hash=connector.config_hash,
            last_applied_hash=last_hash.get(name),
            server_rewrites_config=server_rewrites_config,
        )
        # A state change alone is no config update: no PUT of the config, only the call.
        call = (
            lifecycle_call(connector.state, current.state, exists=True)
            if current.status_problem is None
            else None
        )
        if keys:
            reason = "config differs" + (f", and state is {current.state}" if call else "")
            actions.append(_action(Result.UPDATED, connector, reason, keys, call))
        elif call:
            reason = f"state is {current.state}, declared {connector.state}"
            actions.append(_action(Result.UPDATED, connector, reason, lifecycle=call))
        else:
            actions.append(_action(Result.UNCHANGED, connector, "config matches"))

    deletes: list[Action] = [
        _action(Result.DELETED, unwanted[name], 'label enabled is "false"')
        for name in sorted(unwanted)
        if name in observed
    ]

    declared = set(wanted) | set(unwanted)
    kept: list[LedgerEntry] = []
    replaced: list[Replaced] = []
    for entry in sorted(owned, key=entry_fields):
        if entry.connector in declared:
            continue
        source = Source(entry.configmap, entry.key)
        if (
            source in broken_sources
            or entry.connector in contested
            or (scope is not None and entry.configmap not in scope)
        ):
            kept.append(entry)
            continue
        current = observed.get(entry.connector)
        if current is None:
            continue  # already gone: the entry is simply dropped
        difference = not_what_we_applied(entry, current)
        if difference:
            replaced.append(Replaced(entry.connector, source, difference))
            kept.append(entry)
            continue
        deletes.append(
            Action(
                kind=Result.DELETED,
                target_id=target_id,
                connector=entry.connector,
                reason=f"no longer declared by ConfigMap {entry.configmap} key {entry.key}",
                source=source,
            )
        )
    if max_deletes is not None and len(deletes) > max_deletes:
        refused = tuple(sorted(action.connector for action in deletes))
        kept += [entry for entry in owned if entry.connector in refused]
        deletes = []
    else:
        refused = ()
    kept_entries = tuple(sorted(set(kept), key=entry_fields))
    return TargetPlan(target_id, tuple(actions + deletes), refused, kept_entries, tuple(replaced))


def not_what_we_applied(entry: LedgerEntry, current: ObservedConnector) -> str:
    """Why the live connector is not the one the ledger says we applied; empty when it is.

    The class is checked when the entry recorded one (it survives Confluent Cloud's masking and
    added defaults); older entries are checked by config hash.
    """
    if current.config is None:
        return "its config cannot be read, so it cannot be checked to be ours"
    live_class = current.config.get(CLASS_KEY, "")
    if entry.connector_class:
        if live_class != entry.connector_class:
            return f"its class is now {live_class!r}, we applied {entry.connector_class!r}"
        return ""
    live = current.normalised_config or {}
    if entry.hash in (config_hash(live), config_hash({**live, "name": entry.connector})):
        return ""
    return "its config is not the one we applied"


def _action(
    kind: Result,
    connector: DesiredConnector,
    reason: str,
    keys: tuple[str, ...] = (),
    lifecycle: Lifecycle | None = None,
) -> Action:
    return Action(
        kind=kind,
        target_id=connector.target.id,
        connector=connector.name,
        reason=reason,
        source=connector.source,
        desired=connector,
        changed_keys=keys,
        lifecycle=lifecycle,
    )
