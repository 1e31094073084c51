"""The ownership ledger: which connectors this operator manages, and from where.

The ledger is a set of ConfigMaps in the operator's namespace that the hook writes through
shell-operator's KUBERNETES_PATCH_PATH and reads back through its `ledger` snapshot. It holds no
config values: per owned connector, the target id, the connector name, the source ConfigMap and
key, the hash of the config last applied, the connector class, and an optional digest of a
template's inputs.

Why it is written as per-entry deltas (see the README's design notes):

- real shell-operator has no read-your-writes: the next run's snapshot may be the ledger as it
  was *before* the last run's write. A whole ledger rebuilt from such a snapshot would drop every
  entry written since, and the connectors behind them would run for good, owned by nobody.
- so every entry is one data key (`c.<digest of target and name>`), and a run writes only what it
  changed, as JSON merge patches on `data`: a key set for an entry it created or changed, a key
  set to null for an entry it deleted. An entry the snapshot did not show is never touched.
- one ConfigMap holds 1 MiB; entries are spread over `SHARDS` ConfigMaps by that digest
  (`<ledger>`, `<ledger>-1`, ... `<ledger>-31`), so the ledger holds well over 20 000 entries.
  A shard is created on first use (`CreateIfNotExists`, then `MergePatch`).

The ledger's own ConfigMap also holds `status.json`: the targets whose last run failed for a
reason that may pass (so the `retry` schedule knows to reconcile again) and a digest of the
inputs that run reconciled (so a retry tick with nothing to retry and nothing changed costs no
request). It holds no config value either.

The format before this one (one `ledger.json` key holding every entry) is still read. The run
that sees it moves its entries into per-entry keys of the same ConfigMap and drops `ledger.json`
in one merge patch, so the move is atomic: ownership cannot fall between the two formats.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from connect_operator.binding import LEDGER_SHARDS, ConfigMapView, ledger_shard_names
from connect_operator.errors import BindingContextError

log = logging.getLogger(__name__)

LEGACY_KEY = "ledger.json"
STATUS_KEY = "status.json"
ENTRY_PREFIX = "c."
SHARDS = LEDGER_SHARDS
# Warn well before a ledger ConfigMap reaches the 1 MiB limit of one object.
FULL_WARNING_BYTES = 800 * 1024
MANAGED_BY = {"app.kubernetes.io/managed-by": "connect-operator"}


@dataclass(frozen=True, order=True)
class LedgerEntry:
    """One owned connector.

    `connector_class` is the class we applied (checked before a prune, so a connector someone
    replaced is not deleted); `inputs` is a digest of a template's inputs for a render cache.
    Both may be empty: entries written by older versions have neither.
    """

    target: str
    connector: str
    configmap: str
    key: str
    hash: str
    connector_class: str = ""
    inputs: str = ""

    @functools.cached_property
    def data_key(self) -> str:
        """The ConfigMap data key of this entry: one per target and connector name."""
        return entry_key(self.target, self.connector)


# An entry's fields in order: its sort key (the dataclass order, compared in C) and its identity.
entry_fields: Callable[[LedgerEntry], tuple[str, ...]] = operator.attrgetter(
    *(field.name for field in fields(LedgerEntry))
)


def entry_key(target: str, connector: str) -> str:
    """`c.` and a digest of target and name: valid as a ConfigMap key whatever the name holds."""
    digest = hashlib.sha256(f"{target}\0{connector}".encode()).hexdigest()
    return f"{ENTRY_PREFIX}{digest[:24]}"


@functools.cache
def shard_names(ledger_name: str) -> tuple[str, ...]:
    """Every ConfigMap the ledger may use, the first being the ledger's own name."""
    return ledger_shard_names(ledger_name)


def shard_of(ledger_name: str, data_key: str) -> str:
    """The ConfigMap a new entry goes to."""
    index = int(data_key[len(ENTRY_PREFIX) :][:8], 16) % SHARDS
    return shard_names(ledger_name)[index]


def encode_entry(entry: LedgerEntry) -> str:
    """The compact JSON value of an entry's data key."""
    document = {
        "t": entry.target,
        "n": entry.connector,
        "m": entry.configmap,
        "k": entry.key,
        "h": entry.hash,
    }
    if entry.connector_class:
        document["c"] = entry.connector_class
    if entry.inputs:
        document["i"] = entry.inputs
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def decode_entry(text: str) -> LedgerEntry:
    """Read an entry value; ValueError, KeyError or TypeError when it is not one."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise TypeError("entry is not an object")
    # In LedgerEntry's field order; checked in one go (a ledger holds thousands of entries).
    fields = (
        document["t"],
        document["n"],
        document["m"],
        document["k"],
        document["h"],
        document.get("c", ""),
        document.get("i", ""),
    )
    if not _ONLY_STRINGS.issuperset(map(type, fields)):
        for value in fields:
            _text(value)
    return LedgerEntry(*fields)


_ONLY_STRINGS = frozenset({str})


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


@dataclass(frozen=True)
class RunStatus:
    """What the last run left for the next: targets to retry soon, and its inputs' digest."""

    retry_targets: tuple[str, ...] = ()
    inputs: str = ""

    def encode(self) -> str:
        """The compact JSON value of `status.json`."""
        document = {"retry": list(self.retry_targets), "inputs": self.inputs}
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> RunStatus:
        """Read `status.json`; an unreadable one is treated as "retry everything"."""
        try:
            document = json.loads(text)
            return cls(
                tuple(_text(target) for target in document["retry"]), _text(document["inputs"])
            )
        except (ValueError, KeyError, TypeError):
            return cls(retry_targets=("*",))


@dataclass(frozen=True)
class Ledger:
    """What the ledger snapshot showed: the entries, and where each was read."""

    entries: tuple[LedgerEntry, ...] = ()
    # data key -> the ConfigMaps (names) that hold it
    locations: dict[str, tuple[str, ...]] | None = None
    # Entries still in the legacy `ledger.json` of the ledger's own ConfigMap.
    legacy_entries: tuple[LedgerEntry, ...] = ()
    # The last run's status, None when there is none.
    status: RunStatus | None = None

    def where(self, data_key: str) -> tuple[str, ...]:
        """The ConfigMaps this snapshot saw holding an entry."""
        return (self.locations or {}).get(data_key, ())


def read_ledger(configmaps: Sequence[ConfigMapView], ledger_name: str) -> Ledger:
    """Entries of every ledger ConfigMap; absent ConfigMaps own nothing.

    An unreadable entry or legacy document raises BindingContextError: an unreadable ledger must
    not turn into "we own nothing" silently.
    """
    by_key: dict[str, LedgerEntry] = {}
    locations: dict[str, tuple[str, ...]] = {}
    legacy: list[LedgerEntry] = []
    status: RunStatus | None = None
    for configmap in sorted(configmaps, key=lambda cm: shard_names(ledger_name).index(cm.name)):
        for key, value in sorted(configmap.data.items()):
            if configmap.name == ledger_name and key == LEGACY_KEY:
                legacy = _read_legacy(configmap, value)
                continue
            if configmap.name == ledger_name and key == STATUS_KEY:
                status = RunStatus.decode(value)
                continue
            if not key.startswith(ENTRY_PREFIX):
                continue
            try:
                entry = decode_entry(value)
            except (ValueError, KeyError, TypeError) as exc:
                raise BindingContextError(
                    f"ledger ConfigMap {configmap.ref} key {key} is unreadable: {exc}"
                ) from None
            by_key.setdefault(key, entry)
            seen_in = locations.get(key)
            locations[key] = (configmap.name,) if seen_in is None else (*seen_in, configmap.name)
    for entry in legacy:
        by_key.setdefault(entry.data_key, entry)
    for configmap in configmaps:
        size = sum(len(key) + len(value) for key, value in configmap.data.items())
        if size > FULL_WARNING_BYTES:
            log.warning(
                "ledger ConfigMap %s holds %d KiB of the 1 MiB a ConfigMap may hold",
                configmap.ref,
                size // 1024,
            )
    return Ledger(
        entries=tuple(sorted(by_key.values(), key=entry_fields)),
        locations=locations,
        legacy_entries=tuple(legacy),
        status=status,
    )


def _read_legacy(configmap: ConfigMapView, raw: str) -> list[LedgerEntry]:
    fields = ("target", "connector", "configmap", "key", "hash")
    try:
        document = json.loads(raw)
        return [LedgerEntry(**{f: _text(item[f]) for f in fields}) for item in document["entries"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise BindingContextError(
            f"ledger ConfigMap {configmap.ref} key {LEGACY_KEY} is unreadable: {exc}"
        ) from None


@dataclass(frozen=True)
class LedgerChanges:
    """What one run changes in the ledger: entries to set and entries to remove."""

    upserts: tuple[LedgerEntry, ...] = ()
    removals: tuple[LedgerEntry, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.upserts or self.removals)


def ledger_changes(before: Ledger, after: Iterable[LedgerEntry]) -> LedgerChanges:
    """The deltas from what the snapshot showed to what this run owns.

    Entries the snapshot did not show and this run did not touch are absent from both sides, so
    nothing is ever written about them.
    """
    previous = {entry.data_key: entry for entry in before.entries}
    wanted = {entry.data_key: entry for entry in after}
    legacy = _legacy_keys(before)
    upserts = [
        entry
        for key, entry in sorted(wanted.items())
        # `is`: an entry a run keeps as it was is the snapshot's own object (see reconcile)
        if (previous.get(key) is not entry and previous.get(key) != entry) or key in legacy
    ]
    removals = [entry for key, entry in sorted(previous.items()) if key not in wanted]
    return LedgerChanges(tuple(upserts), tuple(removals))


def _legacy_keys(before: Ledger) -> frozenset[str]:
    return frozenset(entry.data_key for entry in before.legacy_entries)


def ledger_operations(
    ledger_name: str,
    namespace: str,
    before: Ledger,
    changes: LedgerChanges,
    status: RunStatus | None = None,
) -> list[dict[str, Any]]:
    """shell-operator operations that apply the changes, one merge patch per ConfigMap touched.

    An upsert goes where the snapshot saw the entry (or to its shard when it saw it nowhere, or
    only in legacy form, which is moved into the ledger's own ConfigMap). A removal is a null in
    every ConfigMap the entry can live in. A legacy `ledger.json` is dropped in the same merge
    patch that writes its entries as keys. `status` is written when it differs from the one the
    snapshot showed.
    """
    patches: dict[str, dict[str, str | None]] = {}
    if status is not None and status != before.status:
        patches[ledger_name] = {STATUS_KEY: status.encode()}
    legacy_keys = _legacy_keys(before)
    for entry in changes.upserts:
        key = entry.data_key
        homes = before.where(key) or (
            (ledger_name,) if key in legacy_keys else (shard_of(ledger_name, key),)
        )
        for home in homes:
            patches.setdefault(home, {})[key] = encode_entry(entry)
    for entry in changes.removals:
        key = entry.data_key
        for home in {ledger_name, shard_of(ledger_name, key), *before.where(key)}:
            patches.setdefault(home, {})[key] = None
    if before.legacy_entries:
        own = patches.setdefault(ledger_name, {})
        for entry in before.legacy_entries:
            if entry.data_key not in own and not before.where(entry.data_key):
                # Untouched legacy entries move as they are, unless the connector already has
                # its own key (written later, after a rollback and an upgrade): that one wins.
                own[entry.data_key] = encode_entry(entry)
        own[LEGACY_KEY] = None
    return shard_patch_operations(ledger_name, namespace, patches)


def shard_patch_operations(
    ledger_name: str, namespace: str, patches: Mapping[str, Mapping[str, str | None]]
) -> list[dict[str, Any]]:
    """One merge patch of `data` per ledger ConfigMap (a None value removes that key).

    A ConfigMap that gets a value set is created first if missing (`CreateIfNotExists`); one that
    only loses keys may not exist, and then there is nothing to do there.
    """
    operations: list[dict[str, Any]] = []
    for name in sorted(patches, key=shard_names(ledger_name).index):
        data = patches[name]
        if any(value is not None for value in data.values()):
            operations.append(_create_if_not_exists(name, namespace))
        operations.append(
            {
                "operation": "MergePatch",
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "namespace": namespace,
                "name": name,
                "mergePatch": {"data": dict(sorted(data.items()))},
                "ignoreMissingObject": True,
            }
        )
    return operations


def bookkeeping_operations(
    ledger_name: str, namespace: str, writes: Iterable[tuple[str, str, str | None]]
) -> list[dict[str, Any]]:
    """Merge patches that set (or, for None, remove) bookkeeping keys beside the ledger.

    Each write is (ledger entry key, data key, value): the key lives in the ConfigMap of its
    entry's shard.
    """
    patches: dict[str, dict[str, str | None]] = {}
    for owner_key, data_key, value in writes:
        patches.setdefault(shard_of(ledger_name, owner_key), {})[data_key] = value
    return shard_patch_operations(ledger_name, namespace, patches)


Record = TypeVar("Record")


def read_bookkeeping(
    configmaps: Sequence[ConfigMapView],
    prefix: str,
    decode: Callable[[str], Record],
    what: str,
) -> list[Record]:
    """Every bookkeeping record whose data key starts with prefix; a broken one is logged and
    ignored (bookkeeping must never fail a run)."""
    records: list[Record] = []
    for configmap in configmaps:
        for key, value in sorted(configmap.data.items()):
            if not key.startswith(prefix):
                continue
            try:
                records.append(decode(value))
            except (ValueError, KeyError, TypeError) as exc:
                log.warning(
                    "ledger ConfigMap %s key %s is not %s (%s); ignored",
                    configmap.ref,
                    key,
                    what,
                    exc,
                )
    return records


def _create_if_not_exists(name: str, namespace: str) -> dict[str, Any]:
    return {
        "operation": "CreateIfNotExists",
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(MANAGED_BY)},
            "data": {},
        },
    }


def with_hash(entry: LedgerEntry, config_hash: str) -> LedgerEntry:
    """The same entry with another last-applied hash."""
    return replace(entry, hash=config_hash)
