"""The ledger's format: per-entry keys written as deltas, shards, and the legacy format's move."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from connect_operator.binding import ConfigMapView
from connect_operator.errors import BindingContextError
from connect_operator.ledger import (
    LEGACY_KEY,
    SHARDS,
    STATUS_KEY,
    Ledger,
    LedgerChanges,
    LedgerEntry,
    RunStatus,
    bookkeeping_operations,
    decode_entry,
    encode_entry,
    entry_key,
    ledger_changes,
    ledger_operations,
    read_bookkeeping,
    read_ledger,
    shard_names,
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
    return apply(store, operations)


def apply(store: ObjectStore, operations: list[dict[str, object]]) -> list[str]:
    return store.apply_patch_text("\n".join(json.dumps(op) for op in operations))


def put_configmap(store: ObjectStore, name: str, data: dict[str, str]) -> None:
    store.put(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data},
        NAMESPACE,
    )


def holders(store: ObjectStore, key: str) -> list[str]:
    """The ledger ConfigMaps whose data holds the key."""
    return [cm.name for cm in snapshot(store) if key in cm.data]


def legacy_document(*names: str) -> str:
    """A `ledger.json` as the format before per-entry keys wrote it."""
    return json.dumps(
        {
            "format": 1,
            "entries": [
                {
                    "target": "self-managed",
                    "connector": n,
                    "configmap": "t/cm",
                    "key": "k",
                    "hash": "h",
                }
                for n in names
            ],
        }
    )


def not_in_the_ledgers_own_configmap(prefix: str) -> str:
    """A connector name whose entry's shard is not the ledger's own ConfigMap."""
    return next(
        f"{prefix}{i}"
        for i in range(100)
        if shard_of(NAME, entry_key("self-managed", f"{prefix}{i}")) != NAME
    )


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


# -- the format other releases and readers rely on -----------------------------------------


def test_an_entry_key_is_c_dot_and_24_hex_digits_of_the_targets_and_names_digest() -> None:
    # The README's format: an entry written by an earlier release must be found again.
    digest = hashlib.sha256(b"self-managed\0orders-sink").hexdigest()
    assert entry_key("self-managed", "orders-sink") == "c." + digest[:24]
    assert entry("orders-sink").data_key == "c." + digest[:24]


def test_entries_are_spread_over_every_shard_so_none_fills_up_first() -> None:
    store = ObjectStore()
    write(store, Ledger(), [entry(f"c{index}") for index in range(32 * 20)])
    counts = [len(cm.data) for cm in snapshot(store)]
    assert len(counts) == SHARDS
    assert max(counts) < 3 * min(counts), counts


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('["a list"]', "entry is not an object"),
        (
            json.dumps({"t": "self-managed", "n": 7, "m": "t/cm", "k": "k", "h": "h"}),
            "expected a string, got int",
        ),
        (
            json.dumps({"t": "self-managed", "n": "a", "m": "t/cm", "k": None, "h": "h"}),
            "expected a string, got NoneType",
        ),
    ],
)
def test_an_unreadable_entry_is_reported_with_what_is_wrong_with_it(
    value: str, problem: str
) -> None:
    broken = ConfigMapView(NAMESPACE, f"{NAME}-3", {}, {"c.0123": value})
    with pytest.raises(BindingContextError) as caught:
        read_ledger([broken], NAME)
    assert str(caught.value) == (
        f"ledger ConfigMap {NAMESPACE}/{NAME}-3 key c.0123 is unreadable: {problem}"
    )


def test_everything_the_ledgers_own_configmap_holds_is_read_whatever_sits_beside_it() -> None:
    status = RunStatus(retry_targets=("self-managed",), inputs="sha256:in")
    own = {
        entry("a").data_key: encode_entry(entry("a")),
        LEGACY_KEY: legacy_document("old"),
        "r.0123": '{"restart": "record"}',  # bookkeeping of another module
        STATUS_KEY: status.encode(),
        "x.0123": '{"rejection": "record"}',
    }
    ledger = read_ledger([ConfigMapView(NAMESPACE, NAME, {}, own)], NAME)
    assert [e.connector for e in ledger.entries] == ["a", "old"]
    assert ledger.status == status


def test_a_ledger_that_never_had_a_run_status_says_it_has_none() -> None:
    # None is what makes a retry tick reconcile rather than trust a status that is not there.
    own = ConfigMapView(NAMESPACE, NAME, {}, {entry("a").data_key: encode_entry(entry("a"))})
    assert read_ledger([own], NAME).status is None
    assert read_ledger([], NAME).status is None


def shard_of_size(size: int) -> ConfigMapView:
    """A full ledger ConfigMap whose keys and values add up to exactly `size` characters."""
    data: dict[str, str] = {}
    index = 0
    while size - sum(len(k) + len(v) for k, v in data.items()) > 2000:
        item = entry(f"c{index}", cm="team/" + "m" * 900)
        data[item.data_key] = encode_entry(item)
        index += 1
    missing = size - sum(len(k) + len(v) for k, v in data.items())
    last = entry("last", cm="team/")
    padding = missing - len(last.data_key) - len(encode_entry(last))
    last = entry("last", cm="team/" + "m" * padding)
    data[last.data_key] = encode_entry(last)
    assert sum(len(k) + len(v) for k, v in data.items()) == size
    return ConfigMapView(NAMESPACE, f"{NAME}-5", {}, data)


def test_a_ledger_configmap_above_800_kib_is_logged_as_a_warning_naming_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="connect_operator"):
        ledger = read_ledger([shard_of_size(800 * 1024 + 1)], NAME)
    assert len(ledger.entries) > 700
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"ledger ConfigMap {NAMESPACE}/{NAME}-5 holds 800 KiB"
            " of the 1 MiB a ConfigMap may hold",
        )
    ]


def test_a_ledger_configmap_of_800_kib_or_less_is_not_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="connect_operator"):
        read_ledger([shard_of_size(800 * 1024)], NAME)
    assert caplog.records == []


# -- where each write goes ---------------------------------------------------------------


def migrated(store: ObjectStore, *names: str) -> Ledger:
    """A ledger in the legacy format, moved by one run that kept every entry."""
    put_configmap(store, NAME, {LEGACY_KEY: legacy_document(*names)})
    legacy = read_ledger(snapshot(store), NAME)
    write(store, legacy, list(legacy.entries))
    return read_ledger(snapshot(store), NAME)


def test_the_legacy_move_writes_every_entry_in_the_same_merge_patch_that_drops_ledger_json() -> (
    None
):
    name = not_in_the_ledgers_own_configmap("kept")
    store = ObjectStore()
    put_configmap(store, NAME, {LEGACY_KEY: legacy_document(name)})
    before = read_ledger(snapshot(store), NAME)
    operations = ledger_operations(NAME, NAMESPACE, before, ledger_changes(before, before.entries))
    patches = [op for op in operations if op["operation"] == "MergePatch"]
    # Atomic: no patch of its own shard that could land without the drop, or the other way.
    assert [op["name"] for op in patches] == [NAME]
    assert set(patches[0]["mergePatch"]["data"]) == {before.entries[0].data_key, LEGACY_KEY}


def test_an_entry_moved_from_the_legacy_format_is_updated_where_it_now_lives() -> None:
    name = not_in_the_ledgers_own_configmap("moved")
    store = ObjectStore()
    before = migrated(store, name)
    (moved,) = before.entries
    updated = LedgerEntry(moved.target, name, moved.configmap, moved.key, "sha256:new", "Cls")

    write(store, before, [updated])

    assert read_ledger(snapshot(store), NAME).entries == (updated,)
    assert holders(store, moved.data_key) == [NAME]  # not a second copy in its shard


def test_a_removal_clears_the_entry_wherever_the_snapshot_saw_it() -> None:
    # An entry outside its own shard (an older release's shard count, a hand edit): read like
    # any other, so it must be removable like any other.
    store = ObjectStore()
    stray = entry("stray")
    elsewhere = next(n for n in shard_names(NAME)[1:] if n != shard_of(NAME, stray.data_key))
    put_configmap(store, elsewhere, {stray.data_key: encode_entry(stray)})
    before = read_ledger(snapshot(store), NAME)
    assert before.entries == (stray,)

    write(store, before, [])

    assert read_ledger(snapshot(store), NAME).entries == ()
    assert holders(store, stray.data_key) == []


def test_a_legacy_ledger_is_moved_whole_even_by_a_write_that_changes_no_entry() -> None:
    store = ObjectStore()
    put_configmap(store, NAME, {LEGACY_KEY: legacy_document("a", "b")})
    before = read_ledger(snapshot(store), NAME)

    apply(store, ledger_operations(NAME, NAMESPACE, before, LedgerChanges()))

    after = read_ledger(snapshot(store), NAME)
    assert after.entries == before.entries and after.legacy_entries == ()
    assert LEGACY_KEY not in store.get("ConfigMap", NAMESPACE, NAME)["data"]  # type: ignore[index]


def test_a_run_status_is_written_only_when_it_changed() -> None:
    status = RunStatus(retry_targets=(), inputs="sha256:in")
    store = ObjectStore()
    apply(store, ledger_operations(NAME, NAMESPACE, Ledger(), LedgerChanges(), status))
    before = read_ledger(snapshot(store), NAME)
    assert before.status == status

    assert ledger_operations(NAME, NAMESPACE, before, LedgerChanges(), status) == []
    assert ledger_operations(NAME, NAMESPACE, before, LedgerChanges(), None) == []
    retry = RunStatus(retry_targets=("self-managed",), inputs="sha256:in")
    apply(store, ledger_operations(NAME, NAMESPACE, before, LedgerChanges(), retry))
    assert read_ledger(snapshot(store), NAME).status == retry


# -- bookkeeping beside the entries ---------------------------------------------------------


def test_bookkeeping_records_live_in_their_entrys_shard_and_are_read_back_and_removed() -> None:
    first, second = entry("a").data_key, entry("b").data_key
    assert shard_of(NAME, first) != shard_of(NAME, second)
    store = ObjectStore()
    write(store, Ledger(), [entry("a"), entry("b")])

    apply(
        store, bookkeeping_operations(NAME, NAMESPACE, [(first, "r.a", "1"), (second, "r.b", "2")])
    )

    assert holders(store, "r.a") == [shard_of(NAME, first)]
    assert holders(store, "r.b") == [shard_of(NAME, second)]
    assert sorted(read_bookkeeping(snapshot(store), "r.", int, "a number")) == [1, 2]
    apply(store, bookkeeping_operations(NAME, NAMESPACE, [(first, "r.a", None)]))
    assert read_bookkeeping(snapshot(store), "r.", int, "a number") == [2]
    assert read_ledger(snapshot(store), NAME).entries == (entry("a"), entry("b"))


def test_a_broken_bookkeeping_record_is_logged_and_skipped_never_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = {entry("a").data_key: encode_entry(entry("a")), "r.1": "broken", "r.2": "2", "s.3": "3"}
    with caplog.at_level(logging.WARNING, logger="connect_operator"):
        records = read_bookkeeping(
            [ConfigMapView(NAMESPACE, NAME, {}, data)], "r.", int, "a number"
        )
    assert records == [2]
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"ledger ConfigMap {NAMESPACE}/{NAME} key r.1 is not a number"
            " (invalid literal for int() with base 10: 'broken'); ignored",
        )
    ]


def test_a_leftover_legacy_entry_never_overrides_the_newer_key_of_the_same_connector() -> None:
    # A rollback to a release that wrote `ledger.json`, then an upgrade again: the connector
    # already has its own key, written after the legacy document; the move must not bring the
    # older hash back in the ledger's own ConfigMap (read first, so it would win).
    name = not_in_the_ledgers_own_configmap("rolled")
    store = ObjectStore()
    newer = LedgerEntry("self-managed", name, "t/cm", "k", "sha256:new", "Cls")
    put_configmap(store, shard_of(NAME, newer.data_key), {newer.data_key: encode_entry(newer)})
    put_configmap(store, NAME, {LEGACY_KEY: legacy_document(name)})
    before = read_ledger(snapshot(store), NAME)
    assert before.entries == (newer,)

    apply(store, ledger_operations(NAME, NAMESPACE, before, LedgerChanges()))

    assert read_ledger(snapshot(store), NAME).entries == (newer,)
    assert holders(store, newer.data_key) == [shard_of(NAME, newer.data_key)]


def test_an_entry_held_by_two_ledger_configmaps_is_updated_and_removed_in_both() -> None:
    # Two copies (a hand edit, an older release's shard count): the first read wins, so an
    # update that reached only one copy would leave the old hash in force.
    store = ObjectStore()
    stray = entry("twice")
    first, second = [n for n in shard_names(NAME)[1:] if n != shard_of(NAME, stray.data_key)][:2]
    for name in (first, second):
        put_configmap(store, name, {stray.data_key: encode_entry(stray)})
    before = read_ledger(snapshot(store), NAME)
    assert before.where(stray.data_key) == (first, second)
    updated = entry("twice", hash_="sha256:" + "b" * 64)

    write(store, before, [updated])

    assert read_ledger(snapshot(store), NAME).entries == (updated,)
    assert holders(store, stray.data_key) == sorted([first, second])

    write(store, read_ledger(snapshot(store), NAME), [])

    assert holders(store, stray.data_key) == []
