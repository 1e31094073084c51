"""Render one ConfigMap data key, a jq program, into a connector.

The program runs with `null` input, the `.properties` variables as `$NAME` and an `env` object
(the process environment plus KAFKA_API_KEY/SECRET). It must yield exactly one
`{"name": "...", "config": {...}}` whose config values are strings, numbers or booleans; Connect
stores every value as a string, so they are turned into strings here, once.

To know which values are secrets, the program is rendered a second time with every variable and
environment value replaced by an opaque token: a config value that differs between the two
renders came from a variable. Those keys are masked by `connect-operator render` and their
values are scrubbed from any message Connect sends back.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jq

from connect_operator.errors import RenderError
from connect_operator.properties import Variables

MASK = "****"
_ENV_VARIABLE = "__connect_operator_env"
# `env` and `$ENV` both read our environment mapping, so KAFKA_API_KEY works through either.
_PRELUDE = f"def env: ${_ENV_VARIABLE}; ${_ENV_VARIABLE} as $ENV | ("
_ENV_REFERENCE = re.compile(r"(?:\benv|\$ENV)\s*\.\s*\"?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class RenderedConnector:
    """A connector as the template declares it, values already strings."""

    name: str
    config: Mapping[str, str]
    # keys whose values came from a variable or the environment
    secret_keys: frozenset[str]

    def masked_config(self) -> dict[str, str]:
        """The config with every variable-derived value replaced by a mask."""
        return {
            key: MASK if key in self.secret_keys else value for key, value in self.config.items()
        }


def config_hash(config: Mapping[str, str]) -> str:
    """A stable digest of a config, stored in the ledger instead of the values."""
    canonical = json.dumps(dict(config), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render_connector(program: str, variables: Variables) -> RenderedConnector:
    """Run the jq program and validate its output; raise RenderError with a scrubbed message."""
    scrub = _scrubber(program, variables)
    try:
        output = _run(program, variables.values, variables.environ)
    except ValueError as exc:
        raise RenderError(f"jq failed: {scrub(str(exc).strip())}") from None
    name, config = _connector_from_output(output)
    return RenderedConnector(
        name=name, config=config, secret_keys=_secret_keys(program, variables, config)
    )


def _run(program: str, values: Mapping[str, str], environ: Mapping[str, str]) -> list[Any]:
    args: dict[str, Any] = dict(values)
    args[_ENV_VARIABLE] = dict(environ)
    compiled = jq.compile(_PRELUDE + program + "\n)", args=args)
    return list(compiled.input_value(None).all())


def _connector_from_output(output: list[Any]) -> tuple[str, dict[str, str]]:
    if len(output) != 1:
        raise RenderError(f"the program must yield exactly one object, it yielded {len(output)}")
    document = output[0]
    if not isinstance(document, dict):
        raise RenderError(f"the program must yield an object, it yielded {_type_name(document)}")
    unknown = sorted(set(document) - {"name", "config"})
    if unknown:
        raise RenderError(f"unexpected top-level keys {unknown}; only name and config are read")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RenderError('"name" must be a non-empty string')
    raw_config = document.get("config")
    if not isinstance(raw_config, dict):
        raise RenderError(f'"config" must be an object, got {_type_name(raw_config)}')
    config = {}
    for key, value in raw_config.items():
        config[key] = _connect_string(key, value)
    if config.get("name", name) != name:
        raise RenderError(f'config "name" differs from the connector name {name!r}')
    if "connector.class" not in config:
        raise RenderError('config has no "connector.class"')
    return name, config


def _connect_string(key: str, value: Any) -> str:
    """Connect stores Map<String,String>; turn a JSON scalar into the string Connect would."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    raise RenderError(
        f"config key {key!r} must be a string, number or boolean, got {_type_name(value)}"
    )


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "an array", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _secret_keys(program: str, variables: Variables, config: Mapping[str, str]) -> frozenset[str]:
    tokens = {name: f"co-token-{index}" for index, name in enumerate(variables.values)}
    env_tokens = {name: f"co-env-{index}" for index, name in enumerate(variables.environ)}
    try:
        output = _run(program, tokens, env_tokens)
        _, token_config = _connector_from_output(output)
    except (ValueError, RenderError):
        # The program computes with a value (e.g. tonumber): we cannot tell, so mask it all.
        return frozenset(config)
    return frozenset(key for key, value in config.items() if token_config.get(key) != value)


def _scrubber(program: str, variables: Variables) -> Any:
    referenced_env = {
        variables.environ[name]
        for name in _ENV_REFERENCE.findall(program)
        if name in variables.environ
    }
    return Redactor(variables.secret_strings() | referenced_env)


class Redactor:
    """Replaces known secret strings in a message by a mask, longest first."""

    MIN_LENGTH = 3

    def __init__(self, secrets: frozenset[str] | set[str]) -> None:
        self._secrets = sorted(
            (secret for secret in secrets if len(secret) >= self.MIN_LENGTH), key=len, reverse=True
        )

    def __call__(self, message: str) -> str:
        for secret in self._secrets:
            message = message.replace(secret, MASK)
        return message

    def extended(self, more: frozenset[str] | set[str]) -> Redactor:
        """A redactor for these secrets and the extra ones."""
        return Redactor(set(self._secrets) | set(more))
