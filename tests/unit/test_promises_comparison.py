"""What comparisons and the run status promise, in the cases mutation testing showed unguarded:

- normalisation gives every value as Connect stores it (`false`, an empty string for null);
- on Confluent Cloud, a changed desired config reports its masked and server-added keys as well
  as the visibly differing ones;
- the run status round-trips, and anything unreadable in it means "retry everything".
"""

from __future__ import annotations

import json

import pytest

from connect_operator.ledger import LedgerChanges, LedgerEntry, RunStatus
from connect_operator.normalize import changed_keys, normalise


def test_normalise_writes_each_value_as_connect_stores_it() -> None:
    config = {
        "on": True,
        "off": False,
        "unset": None,
        "tasks.max": 3,
        "ratio": 1.5,
        "topics": "t",
        "name": "dropped",
        "__internal.offset": "dropped",
    }
    assert normalise(config) == {
        "on": "true",
        "off": "false",
        "unset": "",
        "tasks.max": "3",
        "ratio": "1.5",
        "topics": "t",
    }


def test_a_changed_config_on_confluent_cloud_names_masked_extra_and_differing_keys() -> None:
    desired = {"connector.class": "X", "topic": "new", "kafka.api.secret": "s2"}
    live = {
        "connector.class": "X",
        "topic": "old",
        "kafka.api.secret": "****************",
        "someone.added": "1",
        "cloud.provider": "aws",  # always added by the server: never drift
    }
    keys = changed_keys(
        desired, live, desired_hash="h2", last_applied_hash="h1", server_rewrites_config=True
    )
    assert keys == ("kafka.api.secret", "someone.added", "topic")
    # Applied as is: the masked and the added keys are the server's doing, not a change.
    keys = changed_keys(
        desired, live, desired_hash="h2", last_applied_hash="h2", server_rewrites_config=True
    )
    assert keys == ("topic",)


def test_the_run_status_is_compact_json_and_reads_back() -> None:
    status = RunStatus(("confluent-cloud/env-1/lkc-1", "self-managed"), "sha256:abc")
    assert status.encode() == (
        '{"inputs":"sha256:abc","retry":["confluent-cloud/env-1/lkc-1","self-managed"]}'
    )
    assert RunStatus.decode(status.encode()) == status
    assert RunStatus.decode(RunStatus().encode()) == RunStatus((), "")


@pytest.mark.parametrize(
    "text",
    [
        "{broken",
        "[]",
        json.dumps({"retry": []}),
        json.dumps({"inputs": "x"}),
        json.dumps({"retry": [1], "inputs": "x"}),
        json.dumps({"retry": ["a"], "inputs": 5}),
    ],
)
def test_an_unreadable_run_status_means_retry_everything(text: str) -> None:
    assert RunStatus.decode(text) == RunStatus(retry_targets=("*",), inputs="")


def test_ledger_changes_are_true_exactly_when_something_is_written() -> None:
    entry = LedgerEntry("self-managed", "a", "ns/cm", "a.json", "h")
    assert not LedgerChanges()
    assert LedgerChanges(upserts=(entry,))
    assert LedgerChanges(removals=(entry,))


def test_the_first_write_of_an_entry_creates_its_shard_then_merges_one_key() -> None:
    from connect_operator.ledger import Ledger, encode_entry, ledger_operations, shard_of

    entry = LedgerEntry("self-managed", "a", "ns/cm", "a.json", "sha256:1", "X")
    home = shard_of("ledger", entry.data_key)
    operations = ledger_operations("ledger", "ops", Ledger(), LedgerChanges(upserts=(entry,)))
    assert operations == [
        {
            "operation": "CreateIfNotExists",
            "object": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": home,
                    "namespace": "ops",
                    "labels": {"app.kubernetes.io/managed-by": "connect-operator"},
                },
                "data": {},
            },
        },
        {
            "operation": "MergePatch",
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "namespace": "ops",
            "name": home,
            "mergePatch": {"data": {entry.data_key: encode_entry(entry)}},
            "ignoreMissingObject": True,
        },
    ]
    assert json.loads(encode_entry(entry)) == {
        "t": "self-managed",
        "n": "a",
        "m": "ns/cm",
        "k": "a.json",
        "h": "sha256:1",
        "c": "X",
    }


def test_with_hash_changes_the_hash_and_nothing_else() -> None:
    from connect_operator.ledger import with_hash

    entry = LedgerEntry("self-managed", "a", "ns/cm", "a.json", "h1", "X", "i1")
    assert with_hash(entry, "h2") == LedgerEntry(
        "self-managed", "a", "ns/cm", "a.json", "h2", "X", "i1"
    )
