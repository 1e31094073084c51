"""Validation before apply, and rejected configs that are not re-sent on every run.

Before a config is created or updated on self-managed Connect, it is checked with
`PUT /connector-plugins/{class}/config/validate`. A config with errors is not written: the
error names each field and Connect's message, with the config's values masked (a message may
echo a value: "Invalid value abc for configuration tasks.max"), and it is reported like any
rejected config (log line, metric, Event).

A config Connect rejected (a 400, a missing plugin, or a failed validation) is remembered as
one data key `x.<digest of its ledger entry key>` beside the ledger: the target, the connector,
the hash of the rendered config (so: its declaration and its variables), a digest of the
target's connector plugins and versions, when it was last rejected and how many times. It holds
no config value. The next runs do not send it again until one of these changes:

- the rendered config (its ConfigMap, its template or a variable it reads);
- the plugins installed on the target (`GET /connector-plugins`, only asked for while such a
  config waits);
- the back-off passes: 10 minutes after the first rejection, doubling, at most an hour.

A config that is then written is forgotten. Stale snapshots (no read-your-writes) cost at most
one early re-send.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connect_operator.binding import ConfigMapView
from connect_operator.connect_client import ConnectClient, Deadline, client_for_target
from connect_operator.desired import DesiredConnector
from connect_operator.errors import (
    ConfigInvalid,
    ConnectOperatorError,
    ConnectRejected,
    CredentialsRejected,
    UnsafeResponse,
)
from connect_operator.ledger import (
    ENTRY_PREFIX,
    bookkeeping_operations,
    entry_key,
    read_bookkeeping,
)
from connect_operator.redaction import MASK, Redactor
from connect_operator.settings import Settings
from connect_operator.targets import TargetKind

log = logging.getLogger(__name__)

REJECTION_PREFIX = "x."
FIRST_WAIT = 600.0
LONGEST_WAIT = 3600.0
CLASS_KEY = "connector.class"


@dataclass(frozen=True, order=True)
class Rejection:
    """A config Connect rejected, remembered so that it is not re-sent unchanged."""

    target: str
    connector: str
    config_hash: str
    plugins: str  # digest of the target's plugins when it was rejected ("" unknown)
    rejected_at: int
    times: int = 1

    @property
    def data_key(self) -> str:
        """`x.` and the digest of the connector's ledger entry key."""
        return rejection_key(self.target, self.connector)

    def resend_at(self) -> float:
        """When the back-off lets the same config be sent again."""
        return float(self.rejected_at + min(FIRST_WAIT * 2 ** (self.times - 1), LONGEST_WAIT))

    def encode(self) -> str:
        """The compact JSON value of the data key."""
        document = {
            "t": self.target,
            "n": self.connector,
            "h": self.config_hash,
            "p": self.plugins,
            "s": self.rejected_at,
            "a": self.times,
        }
        return json.dumps(document, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, text: str) -> Rejection:
        """Read one; ValueError, KeyError or TypeError when it is not one."""
        document = json.loads(text)
        if not isinstance(document, dict):
            raise TypeError("not an object")
        texts = [document[k] for k in ("t", "n", "h", "p")]
        numbers = [document[k] for k in ("s", "a")]
        if not all(isinstance(v, str) for v in texts):
            raise TypeError("target, connector, hash and plugins must be strings")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
            raise TypeError("time and count must be whole numbers")
        return cls(texts[0], texts[1], texts[2], texts[3], numbers[0], numbers[1])


def rejection_key(target: str, connector: str) -> str:
    """The data key of a connector's rejection."""
    return REJECTION_PREFIX + entry_key(target, connector)[len(ENTRY_PREFIX) :]


def read_rejections(configmaps: Sequence[ConfigMapView]) -> dict[tuple[str, str], Rejection]:
    """Every remembered rejection in the ledger ConfigMaps; a broken one is ignored (logged)."""
    rejections = read_bookkeeping(configmaps, REJECTION_PREFIX, Rejection.decode, "a rejection")
    return {(rejection.target, rejection.connector): rejection for rejection in rejections}


def validation_message(
    config: Mapping[str, str], errors: Iterable[tuple[str, str]], error_count: int
) -> str:
    """`field: message; ...` with every config value masked in the messages."""
    parts = [f"{name}: {mask_values(message, config, name)}" for name, message in errors]
    if not parts:
        parts = [f"{error_count} errors, none attributed to a field"]
    return "; ".join(parts)


def mask_values(message: str, config: Mapping[str, str], field_name: str) -> str:
    """The message with the field's own value, and every other value of 4 characters or more,
    masked (short values such as "1" or "t" would mask ordinary words)."""
    own = config.get(field_name, "")
    values = sorted(
        {v for k, v in config.items() if v and (len(v) >= 4 or k == field_name)},
        key=len,
        reverse=True,
    )
    for value in values:
        if value == own and len(value) < 4:
            message = re.sub(rf"(?<![\w.]){re.escape(value)}(?![\w.])", MASK, message)
        else:
            message = message.replace(value, MASK)
    return message


def validated_config(connector: DesiredConnector) -> dict[str, str]:
    """The body to validate: the config with its `name`, which Connect's validation requires
    ("Missing required configuration "name"") while a PUT of the config adds it from the path."""
    return {**connector.config, "name": connector.name}


def plugins_digest(plugins: Iterable[tuple[str, str]]) -> str:
    """A digest of the installed plugins and their versions."""
    text = "\n".join(f"{name}\0{version}" for name, version in sorted(plugins))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class ApplyGuard:
    """What `reconcile.apply` asks before and after it writes a config on one target.

    - `held_back(connector)`: why an unchanged rejected config is not sent again (None: send);
    - `validate(connector)`: raises `ConfigInvalid` when Connect's validation finds errors;
    - `rejected(connector, error)` / `accepted(connector)`: remember or forget a rejection.
    """

    target_id: str
    client: ConnectClient
    before: Mapping[tuple[str, str], Rejection]
    now: float
    validate_first: bool = True
    after: dict[tuple[str, str], Rejection | None] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    _plugins: str | None = None

    def held_back(self, connector: DesiredConnector) -> str | None:
        """Why this config is not re-sent now; None when it should be sent."""
        previous = self.before.get((self.target_id, connector.name))
        if previous is None or previous.config_hash != connector.config_hash:
            return None
        if self.now >= previous.resend_at():
            return None
        if previous.plugins and self.plugins() not in ("", previous.plugins):
            return None
        self.held.add(connector.name)
        wait = round(previous.resend_at() - self.now)
        message = (
            f"its config was rejected by Connect and has not changed; it is not re-sent until"
            f" its declaration, its variables or the target's plugins change, or in {wait} s"
        )
        log.warning(
            "connector %s is still rejected: %s",
            connector.name,
            message,
            extra={
                "connector": connector.name,
                "target": self.target_id,
                "configmap": connector.source.configmap,
                "key": connector.source.key,
                "action": "failed",
            },
        )
        return message

    def validate(self, connector: DesiredConnector) -> None:
        """`PUT /connector-plugins/{class}/config/validate`; ConfigInvalid when it has errors."""
        if not self.validate_first:
            return
        plugin = connector.config.get(CLASS_KEY, "")
        result = self.client.validate_connector_plugin_config(
            plugin, validated_config(connector), connector.secret_values()
        )
        if result.error_count:
            raise ConfigInvalid(
                "PUT",
                f"/connector-plugins/{plugin}/config/validate",
                200,
                "validation failed, nothing was written: "
                + validation_message(connector.config, result.errors, result.error_count),
            )

    def rejected(self, connector: DesiredConnector, error: ConnectOperatorError) -> None:
        """Remember a config Connect refused for good (not credentials, not a redirect)."""
        if not isinstance(error, ConnectRejected) or isinstance(
            error, CredentialsRejected | UnsafeResponse
        ):
            return
        key = (self.target_id, connector.name)
        previous = self.before.get(key)
        times = (
            previous.times + 1 if previous and previous.config_hash == connector.config_hash else 1
        )
        self.after[key] = Rejection(
            self.target_id,
            connector.name,
            connector.config_hash,
            self.plugins(),
            int(self.now),
            times,
        )

    def accepted(self, connector: DesiredConnector) -> None:
        """Forget a rejection once the connector's config was written."""
        key = (self.target_id, connector.name)
        if key in self.before:
            self.after[key] = None

    def forget_undeclared(self, declared: Iterable[str]) -> None:
        """Drop the rejections of connectors no longer declared on this target."""
        names = set(declared)
        for target, name in self.before:
            if target == self.target_id and name not in names:
                self.after[(target, name)] = None

    def plugins(self) -> str:
        """The digest of the target's plugins, asked once per run ("" when it cannot be)."""
        if self._plugins is None:
            try:
                self._plugins = plugins_digest(self.client.list_connector_plugins())
            except ConnectOperatorError as exc:
                log.warning("cannot list the plugins of %s: %s", self.target_id, exc)
                self._plugins = ""
        return self._plugins


def rejection_operations(
    ledger_name: str,
    namespace: str,
    before: Mapping[tuple[str, str], Rejection],
    after: Mapping[tuple[str, str], Rejection | None],
) -> list[dict[str, Any]]:
    """shell-operator operations that write what changed."""
    writes: list[tuple[str, str, str | None]] = []
    for (target, name), rejection in sorted(after.items()):
        if rejection is None:
            if (target, name) in before:
                writes.append((entry_key(target, name), rejection_key(target, name), None))
        elif before.get((target, name)) != rejection:
            writes.append((entry_key(target, name), rejection.data_key, rejection.encode()))
    return bookkeeping_operations(ledger_name, namespace, writes)


@dataclass
class ConfigChecker:
    """`connect-operator render --validate`: the same validation, against each connector's
    target, writing nothing."""

    settings: Settings
    redactor: Redactor
    invalid: int = 0
    _clients: dict[str, ConnectClient] = field(default_factory=dict)

    def check(self, connector: DesiredConnector) -> dict[str, Any]:
        """`{"valid": true}`, `{"valid": false, "errors": [...]}` or `{"skipped": why}`."""
        target = connector.target
        if target.kind is not TargetKind.SELF_MANAGED:
            return {"skipped": "Confluent Cloud targets are not validated"}
        client = self._clients.get(target.id)
        if client is None:
            client = client_for_target(
                target, self.settings, Deadline(self.settings.run_deadline), redactor=self.redactor
            )
            self._clients[target.id] = client
        plugin = connector.config.get(CLASS_KEY, "")
        try:
            result = client.validate_connector_plugin_config(
                plugin, validated_config(connector), connector.secret_values()
            )
        except ConnectOperatorError as exc:
            self.invalid += 1
            return {"valid": False, "errors": [{"field": None, "message": str(exc)}]}
        if not result.error_count:
            return {"valid": True}
        self.invalid += 1
        errors = [
            {"field": name, "message": mask_values(message, connector.config, name)}
            for name, message in result.errors
        ]
        return {"valid": False, "errors": errors}
