"""How the ledger scales with the number of owned connectors.

For N entries (short names, and 120-character names as a worst case) it measures:

- the largest ledger ConfigMap after the run that owns them all (one ConfigMap holds 1 MiB),
  and how many ConfigMaps are used;
- the time to read the ledger back from its snapshot, and to work out the deltas and patch
  operations of a run that owns them all, and of a run that changes one entry (then the patch
  holds one merge patch of one key, whatever N).

Run: `.venv/bin/python -m bench.ledger_scale --sizes 5000,20000,50000`.
"""

from __future__ import annotations

import argparse
import json
import time

from connect_operator.binding import ConfigMapView
from connect_operator.ledger import (
    Ledger,
    LedgerEntry,
    ledger_changes,
    ledger_operations,
    read_ledger,
    with_hash,
)
from tests.support.shell_operator import ObjectStore

NAME = "connect-operator-ledger"
NAMESPACE = "ops"


def entries(count: int, width: int) -> list[LedgerEntry]:
    pad = "x" * width
    return [
        LedgerEntry(
            "self-managed",
            f"{pad}connector-{index}",
            f"team/{pad}cm-{index}",
            f"{pad}key-{index}.json",
            "sha256:" + f"{index:064x}",
            "io.confluent.connect.jdbc.JdbcSourceConnector",
        )
        for index in range(count)
    ]


def measure(count: int, width: int) -> str:
    wanted = entries(count, width)
    started = time.perf_counter()
    operations = ledger_operations(NAME, NAMESPACE, Ledger(), ledger_changes(Ledger(), wanted))
    write_seconds = time.perf_counter() - started
    store = ObjectStore()
    store.apply_patch_text("\n".join(json.dumps(op) for op in operations))
    sizes = [len(json.dumps(obj).encode()) for obj in store.objects.values()]
    views = [
        ConfigMapView(NAMESPACE, obj["metadata"]["name"], {}, obj.get("data") or {})
        for obj in store.objects.values()
    ]
    started = time.perf_counter()
    ledger = read_ledger(views, NAME)
    read_seconds = time.perf_counter() - started
    changed = [with_hash(wanted[0], "sha256:changed"), *wanted[1:]]
    started = time.perf_counter()
    one = ledger_operations(NAME, NAMESPACE, ledger, ledger_changes(ledger, changed))
    delta_seconds = time.perf_counter() - started
    patch_keys = sum(len(op["mergePatch"]["data"]) for op in one if op["operation"] == "MergePatch")
    return (
        f"| {count} | {width} | {len(sizes)} | {max(sizes) / 1024:.0f} KiB |"
        f" {write_seconds:.2f} s | {read_seconds:.2f} s | {delta_seconds:.2f} s, {patch_keys} key |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="5000,20000,50000")
    arguments = parser.parse_args()
    print(
        "| entries | name padding | ConfigMaps | largest | first write | read back |"
        " one change |\n|---:|---:|---:|---:|---:|---:|---:|"
    )
    for count in (int(size) for size in arguments.sizes.split(",")):
        for width in (0, 120):
            print(measure(count, width), flush=True)


if __name__ == "__main__":
    main()
