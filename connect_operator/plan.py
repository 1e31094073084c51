"""Plan: decide, purely, what to do on one target. No I/O happens here.

`plan_target(...)` compares the desired connectors of one target with what Connect reports and
what the ledger owns, and returns frozen `Action`s:

- create what is declared and missing;
- update only what differs after normalisation;
- delete what `enabled` says must not exist (owned or not, as the original operator did);
- prune what the ledger owns but nothing declares any more, unless its source is broken, outside
  this run's scope, or the run would prune more than `max_deletes` (then nothing is pruned and
  the refusal is reported instead).

Foreign connectors (not in the ledger, not declared) are never touched.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from connect_operator.desired import DesiredConnector, Source
from connect_operator.ledger import LedgerEntry
from connect_operator.normalize import changed_keys


class ActionKind(str, Enum):
    """What apply will do; the values finish the sentence "connector x will be ..."."""

    CREATE = "created"
    UPDATE = "updated"
    DELETE = "deleted"
    KEEP = "unchanged"


@dataclass(frozen=True)
class ObservedConnector:
    """A connector as Connect reports it in `GET /connectors?expand=info&expand=status`."""

    name: str
    config: Mapping[str, str] | None
    state: str | None = None
    tasks: tuple[tuple[int, str], ...] = ()
    type: str | None = None


@dataclass(frozen=True)
class Action:
    """One decision for one connector on one target."""

    kind: ActionKind
    target_id: str
    connector: str
    reason: str
    source: Source | None = None
    desired: DesiredConnector | None = None
    changed_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetPlan:
    """Everything decided for one target."""

    target_id: str
    actions: tuple[Action, ...]
    # Owned connectors that should be pruned but were not, because there were too many.
    refused_prunes: tuple[str, ...] = ()
    # Ledger entries that stay as they are (protected, out of scope, refused).
    kept_entries: tuple[LedgerEntry, ...] = field(default_factory=tuple)


def plan_target(
    target_id: str,
    desired: Sequence[DesiredConnector],
    observed: Mapping[str, ObservedConnector],
    owned: Sequence[LedgerEntry],
    *,
    broken_sources: Collection[Source] = frozenset(),
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
            actions.append(_action(ActionKind.CREATE, connector, "declared and missing"))
            continue
        keys = (
            changed_keys(
                connector.config,
                current.config,
                desired_hash=connector.config_hash,
                last_applied_hash=last_hash.get(name),
                server_rewrites_config=server_rewrites_config,
            )
            if current.config is not None
            else ("*",)
        )
        if keys:
            actions.append(_action(ActionKind.UPDATE, connector, "config differs", keys))
        else:
            actions.append(_action(ActionKind.KEEP, connector, "config matches"))

    for name in sorted(unwanted):
        connector = unwanted[name]
        if name in observed:
            actions.append(_action(ActionKind.DELETE, connector, 'label enabled is not "true"'))

    declared = set(wanted) | set(unwanted)
    prunes: list[Action] = []
    kept: list[LedgerEntry] = []
    for entry in sorted(owned):
        if entry.connector in declared:
            continue
        source = Source(entry.configmap, entry.key)
        if source in broken_sources or (scope is not None and entry.configmap not in scope):
            kept.append(entry)
            continue
        if entry.connector not in observed:
            continue  # already gone: the entry is simply dropped
        prunes.append(
            Action(
                kind=ActionKind.DELETE,
                target_id=target_id,
                connector=entry.connector,
                reason=f"no longer declared by ConfigMap {entry.configmap} key {entry.key}",
                source=source,
            )
        )
    if max_deletes is not None and len(prunes) > max_deletes:
        refused = tuple(action.connector for action in prunes)
        kept += [entry for entry in owned if entry.connector in refused]
        return TargetPlan(target_id, tuple(actions), refused, tuple(sorted(set(kept))))
    return TargetPlan(target_id, tuple(actions + prunes), (), tuple(sorted(set(kept))))


def _action(
    kind: ActionKind, connector: DesiredConnector, reason: str, keys: tuple[str, ...] = ()
) -> Action:
    return Action(
        kind=kind,
        target_id=connector.target.id,
        connector=connector.name,
        reason=reason,
        source=connector.source,
        desired=connector,
        changed_keys=keys,
    )
