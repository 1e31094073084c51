"""The ownership ledger: which connectors this operator manages, and from where.

A ConfigMap (default `connect-operator-ledger` in the operator's namespace) that the hook writes
through shell-operator's KUBERNETES_PATCH_PATH and reads back through its `ledger` snapshot.
Each entry holds a target id, a connector name, the source ConfigMap and key, and the hash of the
config last applied. It holds no config values. It is how connectors whose ConfigMap vanished
(even while the operator was down), whose key was removed, or which were renamed get deleted,
and how masked values are compared.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from connect_operator.binding import ConfigMapView
from connect_operator.errors import BindingContextError

log = logging.getLogger(__name__)

LEDGER_KEY = "ledger.json"
LEDGER_FORMAT = 1


@dataclass(frozen=True, order=True)
class LedgerEntry:
    """One owned connector."""

    target: str
    connector: str
    configmap: str
    key: str
    hash: str


def read_ledger(configmap: ConfigMapView | None) -> tuple[LedgerEntry, ...]:
    """Entries of the ledger ConfigMap; an absent ledger owns nothing."""
    if configmap is None:
        return ()
    raw = configmap.data.get(LEDGER_KEY)
    if raw is None:
        return ()
    try:
        document = json.loads(raw)
        entries = tuple(
            LedgerEntry(**{field: str(item[field]) for field in LedgerEntry.__dataclass_fields__})
            for item in document["entries"]
        )
    except (ValueError, KeyError, TypeError) as exc:
        # Refuse to guess: an unreadable ledger must not turn into "we own nothing" silently,
        # and must not be overwritten with a partial one.
        raise BindingContextError(
            f"ledger ConfigMap {configmap.ref} key {LEDGER_KEY} is unreadable: {exc}"
        ) from None
    return tuple(sorted(set(entries)))


def ledger_document(entries: Iterable[LedgerEntry]) -> str:
    """The ledger's data value: stable, sorted JSON, one entry per line for readable diffs."""
    lines = [json.dumps(asdict(entry), sort_keys=True) for entry in sorted(set(entries))]
    body = ",\n  ".join(lines)
    return (
        f'{{"format": {LEDGER_FORMAT}, "entries": [\n  {body}\n]}}\n'
        if lines
        else (f'{{"format": {LEDGER_FORMAT}, "entries": []}}\n')
    )


def ledger_patch_operation(
    name: str, namespace: str, entries: Iterable[LedgerEntry]
) -> dict[str, Any]:
    """A shell-operator CreateOrUpdate of the whole ledger ConfigMap."""
    return {
        "operation": "CreateOrUpdate",
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {"app.kubernetes.io/managed-by": "connect-operator"},
            },
            "data": {LEDGER_KEY: ledger_document(entries)},
        },
    }
