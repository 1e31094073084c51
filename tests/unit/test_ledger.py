"""The ledger's format: per-entry keys written as deltas, shards, and the legacy format's move."""

from __future__ import annotations

import json

import pytest

from connect_operator.binding import ConfigMapView
from connect_operator.errors import BindingContextError
from connect_operator.ledger import (
    LEGACY_KEY,
    Ledger,
    LedgerEntry,
    decode_entry,
    encode_entry,
    ledger_changes,
    ledger_operations,
    read_ledger,
    shard_of,
)
from tests.support.shell_operator import ObjectStore

NAME = "connect-operator-ledger"
NAMESPACE = "ops"
ONE_MIB = 1024 * 1024


def entry(name: str, cm: str = "team/cm", hash_: str = "sha256:" + "a" * 64) -> LedgerEntry:
    return LedgerEntry("self-managed", name, cm, f"{name}.json", hash_, "FileStreamSink")


def snapshot(store: ObjectStore) -> list[ConfigMapView]:
    """The ledger ConfigMaps as the `ledger` binding would show them."""
    return [
        ConfigMapView(namespace, name, obj["metadata"].get("labels") or {}, obj.get("data") or {})
        for (kind, namespace, name), obj in sorted(store.objects.items())
        if kind == "ConfigMap" and namespace == NAMESPACE and name.startswith(NAME)
    ]


def write(store: ObjectStore, before: Ledger, after: list[LedgerEntry]) -> list[str]:
    operations = ledger_operations(NAME, NAMESPACE, before, ledger_changes(before, after))
    return store.apply_patch_text("\n".join(json.dumps(op) for op in operations))


def test_an_entry_round_trips_with_and_without_the_optional_fields() -> None:
    full = LedgerEntry("cc/env/lkc", "n", "ns/cm", "k.json", "sha256:x", "Cls", "sha256:in")
    bare = LedgerEntry("self-managed", "n", "ns/cm", "k.json", "sha256:x")
    assert decode_entry(encode_entry(full)) == full
    assert decode_entry(encode_entry(bare)) == bare
    assert '"i":"sha256:in"' in encode_entry(full) and '"i"' not in encode_entry(bare)


def test_entries_written_by_one_run_are_read_back_by_the_next() -> None:
    store = ObjectStore()
    entries = [entry(f"c{index}") for index in range(40)]
    write(store, Ledger(), entries)
    assert read_ledger(snapshot(store), NAME).entries == tuple(sorted(entries))


def test_a_run_on_a_stale_snapshot_never_drops_an_entry_it_did_not_see() -> None:
    # "c" and "q" share a shard, so a rewrite of that ConfigMap would lose one of them.
    assert shard_of(NAME, entry("c").data_key) == shard_of(NAME, entry("q").data_key)
    store = ObjectStore()
    write(store, Ledger(), [entry("old")])
    stale = read_ledger(snapshot(store), NAME)
    # run N owns a new connector; run N+1 only sees the snapshot from before run N's write
    write(store, stale, [entry("old"), entry("c")])
    write(store, stale, [entry("old"), entry("q")])
    names = [e.connector for e in read_ledger(snapshot(store), NAME).entries]
    assert names == ["c", "old", "q"]


def test_a_removal_touches_only_its_own_key() -> None:
    store = ObjectStore()
    write(store, Ledger(), [entry("a"), entry("b")])
    before = read_ledger(snapshot(store), NAME)
    operations = write(store, before, [entry("b")])
    assert all(op.startswith(("MergePatch", "CreateIfNotExists")) for op in operations)
    assert [e.connector for e in read_ledger(snapshot(store), NAME).entries] == ["b"]


def test_an_unchanged_ledger_writes_nothing() -> None:
    store = ObjectStore()
    write(store, Ledger(), [entry("a")])
    before = read_ledger(snapshot(store), NAME)
    assert not ledger_changes(before, [entry("a")])
    assert ledger_operations(NAME, NAMESPACE, before, ledger_changes(before, [entry("a")])) == []


def test_the_legacy_format_is_read_and_moved_in_one_merge_patch() -> None:
    legacy = {
        "format": 1,
        "entries": [
            {"target": "self-managed", "connector": n, "configmap": "t/cm", "key": "k", "hash": "h"}
            for n in ("kept", "gone")
        ],
    }
    store = ObjectStore()
    store.put(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": NAME, "namespace": NAMESPACE},
            "data": {LEGACY_KEY: json.dumps(legacy)},
        }
    )
    before = read_ledger(snapshot(store), NAME)
    assert [e.connector for e in before.entries] == ["gone", "kept"]
    operations = ledger_operations(
        NAME,
        NAMESPACE,
        before,
        ledger_changes(before, [e for e in before.entries if e.connector == "kept"]),
    )
    own = [op for op in operations if op["operation"] == "MergePatch" and op["name"] == NAME]
    assert len(own) == 1 and own[0]["mergePatch"]["data"][LEGACY_KEY] is None
    store.apply_patch_text("\n".join(json.dumps(op) for op in operations))
    after = read_ledger(snapshot(store), NAME)
    assert [e.connector for e in after.entries] == ["kept"]
    assert LEGACY_KEY not in store.get("ConfigMap", NAMESPACE, NAME)["data"]  # type: ignore[index]


def test_an_unreadable_entry_stops_the_run_instead_of_owning_nothing() -> None:
    broken = ConfigMapView(NAMESPACE, NAME, {}, {"c.0123": "{not json"})
    with pytest.raises(BindingContextError, match=r"c\.0123"):
        read_ledger([broken], NAME)


@pytest.mark.slow  # real CPU or wall-clock bounds: `make test`, not `make test-unit`
def test_twenty_thousand_long_named_entries_fit_in_the_shards() -> None:
    store = ObjectStore()
    long = "x" * 120
    entries = [
        LedgerEntry(
            "confluent-cloud/env-abc123/lkc-def456",
            f"{long}-connector-{index}",
            f"team-with-a-long-namespace/{long}-{index}",
            f"{long}-{index}.json",
            "sha256:" + "f" * 64,
            "io.confluent.connect.jdbc.JdbcSourceConnector",
            "sha256:" + "e" * 64,
        )
        for index in range(20_000)
    ]
    write(store, Ledger(), entries)
    sizes = [len(json.dumps(obj).encode()) for obj in store.objects.values()]
    assert max(sizes) < ONE_MIB, max(sizes)
    assert len(read_ledger(snapshot(store), NAME).entries) == 20_000
