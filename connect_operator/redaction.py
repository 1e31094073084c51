"""Keeping secret values out of everything we print or write.

One `Redactor` scrubs known secret strings from log lines, the Connect client's error messages,
render errors and CLI output; `masked` hides a rendered config's secret values for display.
Used by the logs, the Connect client, the CLI and templating alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

MASK = "****"


def masked(config: Mapping[str, str], secret_keys: AbstractSet[str]) -> dict[str, str]:
    """A copy of config whose secret values are replaced by a mask."""
    return {key: MASK if key in secret_keys else value for key, value in config.items()}


class Redactor:
    """Replaces known secret strings in a message by a mask, longest first."""

    MIN_LENGTH = 3

    def __init__(self, secrets: frozenset[str] | set[str]) -> None:
        kept = {secret for secret in secrets if len(secret) >= self.MIN_LENGTH}
        # A secret inside JSON (jq's messages, an error(...) value) appears escaped.
        kept |= {json.dumps(secret)[1:-1] for secret in kept}
        self._secrets = sorted(kept, key=len, reverse=True)

    def __call__(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, MASK)
        return message

    def extended(self, more: frozenset[str] | set[str]) -> Redactor:
        """A redactor for these secrets and the extra ones."""
        return Redactor(set(self._secrets) | set(more))
