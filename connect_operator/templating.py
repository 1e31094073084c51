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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jq

from connect_operator.errors import RenderError
from connect_operator.properties import Variables
from connect_operator.redaction import Redactor, masked

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
        return masked(self.config, self.secret_keys)


def config_hash(config: Mapping[str, str]) -> str:
    """A stable digest of a config, stored in the ledger instead of the values."""
    canonical = json.dumps(dict(config), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def render_connector(program: str, variables: Variables) -> RenderedConnector:
    """Run one jq program and validate its output; raise RenderError with a scrubbed message."""
    (result,) = render_connectors([program], variables)
    if isinstance(result, RenderError):
        raise result
    return result


def render_connectors(
    programs: Sequence[str], variables: Variables
) -> list[RenderedConnector | RenderError]:
    """Render many programs; each result is a connector or the error that program gave.

    jq compiles its whole builtin library with every program, which costs about a millisecond,
    so the programs are compiled together in chunks, each wrapped in its own `try`, and run once
    with the real values and once with tokens. A chunk that does not compile (a program with a
    syntax error or an undefined variable, or more bytecode than jq allows in one function) is
    split in halves until the error lands on the program that caused it.
    """
    if not programs:
        return []
    tokens = {name: f"co-token-{index}" for index, name in enumerate(variables.values)}
    env_tokens = {name: f"co-env-{index}" for index, name in enumerate(variables.environ)}
    real = _run_in_chunks(programs, variables.values, variables.environ)
    tokened = _run_in_chunks(programs, tokens, env_tokens)
    return [
        _rendered(program, variables, outputs, token_outputs)
        for program, outputs, token_outputs in zip(programs, real, tokened, strict=True)
    ]


_ERROR_KEY = "__connect_operator_jq_error__"
# jq refuses a function over 64 KiB of bytecode; a few hundred typical connectors stay below.
_CHUNK = 128


def _run_in_chunks(
    programs: Sequence[str], values: Mapping[str, str], environ: Mapping[str, str]
) -> list[list[Any] | str]:
    results: list[list[Any] | str] = []
    for start in range(0, len(programs), _CHUNK):
        results += _run_splitting(programs[start : start + _CHUNK], values, environ)
    return results


def _run_splitting(
    programs: Sequence[str], values: Mapping[str, str], environ: Mapping[str, str]
) -> list[list[Any] | str]:
    if len(programs) == 1:
        return [_run_alone(programs[0], values, environ)]
    try:
        return _run_batch(programs, values, environ)
    except ValueError:
        middle = len(programs) // 2
        return _run_splitting(programs[:middle], values, environ) + _run_splitting(
            programs[middle:], values, environ
        )


def _compile(text: str, values: Mapping[str, str], environ: Mapping[str, str]) -> Any:
    args: dict[str, Any] = dict(values)
    args[_ENV_VARIABLE] = dict(environ)
    return jq.compile(text, args=args)


def _wrapped(program: str) -> str:
    return f"[try (\n{program}\n) catch {{{json.dumps(_ERROR_KEY)}: tostring}}]"


def _run_batch(
    programs: Sequence[str], values: Mapping[str, str], environ: Mapping[str, str]
) -> list[list[Any] | str]:
    body = ",\n".join(_wrapped(program) for program in programs)
    compiled = _compile(_PRELUDE + "[\n" + body + "\n])", values, environ)
    return [_split_error(outputs) for outputs in compiled.input_value(None).first()]


def _run_alone(
    program: str, values: Mapping[str, str], environ: Mapping[str, str]
) -> list[Any] | str:
    try:
        compiled = _compile(_PRELUDE + _wrapped(program) + ")", values, environ)
    except ValueError as exc:
        return str(exc).strip()
    return _split_error(compiled.input_value(None).first())


def _split_error(outputs: list[Any]) -> list[Any] | str:
    """A program's outputs, or the jq error message it stopped with."""
    for output in outputs:
        if isinstance(output, dict) and set(output) == {_ERROR_KEY}:
            return str(output[_ERROR_KEY])
    return outputs


def _rendered(
    program: str,
    variables: Variables,
    outputs: list[Any] | str,
    token_outputs: list[Any] | str,
) -> RenderedConnector | RenderError:
    if isinstance(outputs, str):
        return RenderError(f"jq failed: {_scrubber(program, variables)(outputs)}")
    try:
        name, config = _connector_from_output(outputs)
    except RenderError as exc:
        return exc
    try:
        if isinstance(token_outputs, str):
            raise RenderError(token_outputs)
        _, token_config = _connector_from_output(token_outputs)
        secret_keys = frozenset(k for k, v in config.items() if token_config.get(k) != v)
    except RenderError:
        # The program computes with a value (e.g. tonumber): we cannot tell, so mask it all.
        secret_keys = frozenset(config)
    return RenderedConnector(name=name, config=config, secret_keys=secret_keys)


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


def _scrubber(program: str, variables: Variables) -> Any:
    referenced_env = {
        variables.environ[name]
        for name in _ENV_REFERENCE.findall(program)
        if name in variables.environ
    }
    return Redactor(variables.secret_strings() | referenced_env)
