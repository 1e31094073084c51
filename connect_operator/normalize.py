"""Normalisation: the one function both sides of every comparison go through.

Connect stores every value as a string and adds `name`; Confluent Platform adds
`__internal.*` keys; Confluent Cloud masks secrets (`****************`, or any value that starts
with two or more `*`, as the Terraform provider reads it) and adds keys of its own. Comparing raw
maps would PUT forever, and an identical PUT restarts the connector, so compare normalised maps,
and where the server hides or adds values, decide through the ledger's last-applied hash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# As the Terraform provider reads Confluent Cloud's answers: two or more `*` mark a hidden value.
_MASKED = re.compile(r"^\*{2,}")
# Keys Confluent Cloud adds to a connector's config on its own; the Terraform provider ignores
# the same ones (`ignoredConnectorConfigs`, and the `config.internal.` prefix). Never drift.
CONFLUENT_CLOUD_ADDED_KEYS = frozenset(
    {
        "cloud.environment",
        "cloud.provider",
        "connector.crn",
        "kafka.endpoint",
        "kafka.max.partition.validation.disable",
        "kafka.region",
        "kafka.dedicated",
        "schema.registry.url",
        "valid.kafka.api.key",
        "confluent.custom.plugin.type",
        "confluent.resource.connector.tier",
    }
)
_CONFLUENT_CLOUD_ADDED_PREFIX = "config.internal."


def normalise(config: Mapping[str, Any]) -> dict[str, str]:
    """Values as strings, without `name` and `__internal.*` keys."""
    return {
        key: value if type(value) is str else _string(value)
        for key, value in config.items()
        if key != "name" and not key.startswith("__internal.")
    }


def _string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    return str(value)


def is_masked(value: str) -> bool:
    """True for a value the server hid, such as Confluent Cloud's `****************`."""
    return bool(_MASKED.match(value))


def is_server_added(key: str) -> bool:
    """True for a key Confluent Cloud adds by itself (`cloud.provider`, `kafka.region`, ...)."""
    return key in CONFLUENT_CLOUD_ADDED_KEYS or key.startswith(_CONFLUENT_CLOUD_ADDED_PREFIX)


def changed_keys(
    desired: Mapping[str, Any],
    actual: Mapping[str, Any],
    *,
    desired_hash: str,
    last_applied_hash: str | None,
    server_rewrites_config: bool,
) -> tuple[str, ...]:
    """The keys (names only) that make an update necessary; empty when nothing changed.

    - A key missing on the server, or a visible value that differs, always counts.
    - A masked value counts only when the desired config changed since we last applied it.
    - A key only the server has counts on self-managed Connect (someone added it, or the user
      removed it from the ConfigMap); on a server that adds defaults (Confluent Cloud) it counts
      only when the desired config changed since we last applied it, and a key that server
      always adds (`is_server_added`) never counts.
    """
    if desired is actual:
        return ()  # one mapping (a render taken from the live config): nothing can differ
    want = normalise(desired)
    have = normalise(actual)
    if want == have:
        return ()  # the common case, every run: nothing differs, nothing is masked or extra
    applied_as_is = last_applied_hash is not None and last_applied_hash == desired_hash
    differing = [
        key
        for key in want
        if key not in have or (not is_masked(have[key]) and have[key] != want[key])
    ]
    masked = [
        key for key in want if key in have and is_masked(have[key]) and have[key] != want[key]
    ]
    extra = [
        key
        for key in have
        if key not in want and not (server_rewrites_config and is_server_added(key))
    ]
    result = list(differing)
    if masked and not applied_as_is:
        result += masked
    if extra and (not server_rewrites_config or not applied_as_is):
        result += extra
    return tuple(sorted(set(result)))
