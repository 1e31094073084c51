"""Render ConfigMap data keys, jq programs, into connectors.

A program runs with `null` input, the `.properties` variables as `$NAME` and the template
environment (`template_env`) as `env`/`$ENV`. It must yield exactly one
`{"name": "...", "config": {...}}` whose config values are strings, numbers or booleans; Connect
stores every value as a string, so they are turned into strings here, once. An optional
`"state": "running" | "paused" | "stopped"` (default `running`) is the connector's desired
state.

Programs are untrusted: `sandbox` runs them in a bounded child process. Before that, each one is
checked to be self-contained (its brackets, strings and comments close inside it), so that it
cannot break out of the parentheses it is run in and change another key's variables.

Each program is rendered once. Which config values are secret is told from the output: a value
that contains the value of a secret the program reads (`Variables.secret_strings`) is secret.
Those keys are masked by `connect-operator render` and their values are scrubbed from any message
Connect sends back. A value derived from a secret by transforming it (base64, a substring) is
not recognised. A connector *name* that contains a secret is an error: names go into logs,
metrics and the ledger.

`program_inputs` tells, from the program's text, which variables and environment names it can
read; `inputs_digest` hashes them with the text, so an unchanged digest means an unchanged
render (the render cache in `desired`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, Protocol

from connect_operator.errors import RenderError
from connect_operator.properties import Variables
from connect_operator.redaction import MASK, Redactor, masked
from connect_operator.template_env import is_credential_name

if TYPE_CHECKING:
    from connect_operator.sandbox import Limits

# Bump when rendering changes in a way that changes outputs: it invalidates every cached digest.
RENDER_FORMAT = "2"

_VARIABLE = re.compile(r"\$(?!__loc__\b)([A-Za-z_][A-Za-z0-9_]*)")
# `$ENV`, and `env` not preceded by a word character or `$`: two patterns, each starting with a
# literal (the lookbehind comes after `env`), so that a scan skips ahead to the next candidate.
_ENV_USES = (re.compile(r"\$ENV\b"), re.compile(r"env(?<![\w$]env)\b"))
_ENV_FIELD = re.compile(r'\s*\.\s*(?:"([A-Za-z_][A-Za-z0-9_]*)"|([A-Za-z_][A-Za-z0-9_]*))')
# A comment runs to the line end; jq goes on to the next line after an odd number of
# backslashes (`\\` is an escaped backslash), even with a CR between them and the LF.
_COMMENT = re.compile(r"#(?:[^\n]*?(?<!\\)(\\(?:\\\\)*\r?$)|[^\n]*)", re.MULTILINE)
# Builtins whose result is not a function of the program's inputs.
# (`$__loc__` gives the line within the batch a program was compiled in.)
_VOLATILE = re.compile(r"(?<![\w$])now\b|\$__loc__\b")


class RemainingTime(Protocol):
    """Anything that tells how many seconds the run has left (`connect_client.Deadline`)."""

    def remaining(self) -> float:
        """Seconds left."""


# The desired states a connector document may declare (`"state"`), running by default.
STATES = ("running", "paused", "stopped")


@dataclass(frozen=True)
class RenderedConnector:
    """A connector as the template declares it, values already strings."""

    name: str
    config: Mapping[str, str]
    # keys whose values contain a secret the program reads
    secret_keys: AbstractSet[str]
    # the declared desired state: one of STATES
    state: str = "running"

    def masked_config(self) -> dict[str, str]:
        """The config with every secret value replaced by a mask."""
        return masked(self.config, self.secret_keys)


@dataclass(frozen=True)
class ProgramInputs:
    """What a program can read: `$NAME` variables and environment names (None: all of them)."""

    variables: frozenset[str]
    environ: frozenset[str] | None
    # True when the output may change with nothing else changed (`now`): never cache it.
    volatile: bool = False


@cache
def program_inputs(program: str) -> ProgramInputs:
    """The variables and environment names the program's text can reach."""
    names: set[str] = set()
    whole_env = False
    if "env" in program or "ENV" in program:
        names, whole_env = _env_reads(program)
        if whole_env:  # perhaps only "env" inside a string literal: look at the code alone
            names, whole_env = _env_reads(_code_only(program))
    variables = frozenset(_VARIABLE.findall(program)) - {"ENV"} if "$" in program else frozenset()
    volatile = ("now" in program or "__loc__" in program) and bool(_VOLATILE.search(program))
    return ProgramInputs(
        variables=variables,
        environ=None if whole_env else frozenset(names),
        volatile=volatile,
    )


def _env_reads(text: str) -> tuple[set[str], bool]:
    names: set[str] = set()
    for uses in _ENV_USES:
        for use in uses.finditer(text):
            field = _ENV_FIELD.match(text, use.end())
            if field is None:
                return names, True  # `env | keys`, `$ENV[$x]`, ...: it may read anything
            names.add(field.group(1) or field.group(2))
    return names, False


def _code_only(program: str) -> str:
    """The program with the text of its string literals and comments blanked out (string
    interpolations are code and stay)."""
    out: list[str] = []
    depth: list[int] = []  # open parentheses inside each interpolation
    in_string = in_comment = False
    position = 0
    while position < len(program):
        char = program[position]
        if in_comment:
            in_comment = char != "\n"
            out.append(char if char == "\n" else " ")
        elif in_string:
            if char == "\\" and program[position + 1 : position + 2] == "(":
                depth.append(0)
                in_string = False
                out.append("\\(")
                position += 2
                continue
            if char == "\\":
                out.append("  ")
                position += 2
                continue
            in_string = char != '"'
            out.append(char if char == '"' else " ")
        else:
            if char == '"':
                in_string = True
            elif char == "#":
                in_comment = True
                char = " "
            elif char == "(" and depth:
                depth[-1] += 1
            elif char == ")" and depth:
                if depth[-1] == 0:
                    depth.pop()
                    in_string = True
                else:
                    depth[-1] -= 1
            out.append(char)
        position += 1
    return "".join(out)


def inputs_digest(program: str, variables: Variables) -> str | None:
    """A digest of the program and every value it can read; None when it cannot be cached."""
    return inputs_digests([program], variables)[0]


def inputs_digests(programs: Iterable[str], variables: Variables) -> list[str | None]:
    """`inputs_digest` of each program. The values part is built once per set of names read
    (programs of one kind read the same variables), so a digest costs about one hash of the
    program's text."""
    read_values: dict[ProgramInputs, bytes] = {}
    digests: list[str | None] = []
    for program in programs:
        reads = program_inputs(program)
        if reads.volatile:
            digests.append(None)
            continue
        values = read_values.get(reads)
        if values is None:
            values = read_values[reads] = _read_values(reads, variables)
        data = b"".join((_FORMAT_PREFIX, _length_prefixed(program), values))
        digests.append("sha256:" + hashlib.sha256(data).hexdigest())
    return digests


def _length_prefixed(text: str | None) -> bytes:
    # Length-prefixed, so no two different inputs can run together into the same bytes.
    data = b"\xff" if text is None else text.encode("utf-8", "surrogatepass")
    return b"%d:%b" % (len(data), data)


_FORMAT_PREFIX = _length_prefixed(RENDER_FORMAT)


def _read_values(reads: ProgramInputs, variables: Variables) -> bytes:
    """The names a program can read and their values (absent ones marked), as digest input."""
    parts = [_length_prefixed("variables")]
    for name in sorted(reads.variables):
        parts += (_length_prefixed(name), _length_prefixed(variables.values.get(name)))
    whole = reads.environ is None
    parts.append(_length_prefixed("whole environment" if whole else "environment"))
    for name in sorted(variables.environ.keys() if reads.environ is None else reads.environ):
        parts += (_length_prefixed(name), _length_prefixed(variables.environ.get(name)))
    return b"".join(parts)


def readable_secrets(program: str, variables: Variables) -> dict[str, str]:
    """The secrets this program can read, by where they come from (`$NAME` or `env.NAME`)."""
    reads = program_inputs(program)
    secrets = {
        f"${name}": variables.values[name]
        for name in reads.variables
        if name in variables.values and is_credential_name(name)
    }
    env_names = variables.environ.keys() if reads.environ is None else reads.environ
    for name in env_names:
        if name in variables.environ:
            secrets[f"env.{name}"] = variables.environ[name]
    return {origin: value for origin, value in secrets.items() if len(value) >= Redactor.MIN_LENGTH}


def config_hash(config: Mapping[str, str]) -> str:
    """A stable digest of a config, stored in the ledger instead of the values."""
    canonical = _CANONICAL.encode(config if isinstance(config, dict) else dict(config))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# One encoder for every hash: `json.dumps` with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def render_connector(program: str, variables: Variables) -> RenderedConnector:
    """Run one jq program and validate its output; raise RenderError with a scrubbed message."""
    (result,) = render_connectors([program], variables)
    if isinstance(result, RenderError):
        raise result
    return result


def render_connectors(
    programs: Sequence[str],
    variables: Variables,
    *,
    limits: Limits | None = None,
    deadline: RemainingTime | None = None,
) -> list[RenderedConnector | RenderError]:
    """Render many programs; each result is a connector or the error that program gave.

    A program that goes past its bounds, halts or fails costs only its own result. Raises
    DeadlineExceeded when the run's deadline passes first.
    """
    # Imported here: a run that renders nothing (the render cache) never needs the renderer.
    from connect_operator.sandbox import Failure, Limits, run_programs

    scrub = _error_scrubber(variables)
    unsafe = {}
    for index, program in enumerate(programs):
        problem = self_contained_problem(program)
        if problem is not None:
            unsafe[index] = f"the program is not self-contained: {problem}"
    raw = run_programs(
        programs,
        variables.values,
        variables.environ,
        limits or Limits(),
        None if deadline is None else deadline.remaining,
        unsafe,
    )
    results: list[RenderedConnector | RenderError] = []
    for program, outcome in zip(programs, raw, strict=True):
        if isinstance(outcome, Failure):
            prefix = "" if outcome.stopped else "jq failed: "
            results.append(RenderError(prefix + scrub(outcome.message)))
            continue
        try:
            results.append(_connector(program, variables, outcome.values))
        except RenderError as exc:
            results.append(RenderError(scrub(str(exc))))
    return results


def _connector(program: str, variables: Variables, outputs: list[Any]) -> RenderedConnector:
    name, config, state = _connector_from_output(outputs)
    secrets = readable_secrets(program, variables)
    for origin, value in secrets.items():
        if value in name:
            raise RenderError(
                f"the connector name contains the value of {origin}, a secret; names go into"
                " logs, metrics and the ledger, so they must not"
            )
    return RenderedConnector(
        name=name, config=config, secret_keys=_keys_holding(config, secrets.values()), state=state
    )


def secret_keys_of(program: str, variables: Variables, config: Mapping[str, str]) -> frozenset[str]:
    """The config keys whose values contain a secret the program can read."""
    return _keys_holding(config, readable_secrets(program, variables).values())


class SecretKeysOf(AbstractSet[str]):
    """`secret_keys_of(program, variables, config)`, worked out when first asked.

    For a connector that is not rendered (the render cache): its secret keys are only needed
    when its config is sent or shown, which an unchanged connector's never is."""

    def __init__(self, program: str, variables: Variables, config: Mapping[str, str]) -> None:
        self._of = (program, variables, config)

    @cached_property
    def _keys(self) -> frozenset[str]:
        return secret_keys_of(*self._of)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"SecretKeysOf({sorted(self._keys)!r})"


def _keys_holding(config: Mapping[str, str], secrets: Iterable[str]) -> frozenset[str]:
    values = list(secrets)
    if not values:
        return frozenset()
    return frozenset(
        key for key, value in config.items() if any(secret in value for secret in values)
    )


def self_contained_problem(program: str) -> str | None:
    """Why the program could reach outside the parentheses it runs in, or None if it cannot.

    Brackets must balance outside strings and comments, strings (with their `\\(...)`
    interpolations) and comments must end inside the program, and a comment must not end in a
    backslash (jq continues such a comment on the next line).
    """
    if "\0" in program:
        return "it contains a NUL character"
    closing = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    in_string = False
    position = 0
    length = len(program)
    while position < length:
        char = program[position]
        if in_string:
            if char == "\\":
                if program[position + 1 : position + 2] == "(":
                    stack.append("\\(")
                    in_string = False
                position += 2
                continue
            if char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#":
            comment = _COMMENT.match(program, position)
            assert comment is not None  # it matches any "#"
            if comment[1]:
                return "a comment ends with a backslash"
            position = comment.end()
            continue
        elif char in "([{":
            stack.append(char)
        elif char in closing:
            if not stack:
                return f"an unmatched {char!r}"
            opened = stack.pop()
            if opened == "\\(" and char == ")":
                in_string = True
            elif opened != closing[char]:
                return f"{opened!r} is closed by {char!r}"
        position += 1
    if in_string:
        return "a string does not end"
    if stack:
        return f"an unclosed {stack[-1]!r}"
    return None


def _error_scrubber(variables: Variables) -> Any:
    secrets = variables.secret_strings()
    redact = Redactor(secrets)
    forms = {form for secret in secrets for form in (secret, json.dumps(secret)[1:-1])}

    def scrub(message: str) -> str:
        return _hide_shortened(redact(message), forms)

    return scrub


def _hide_shortened(message: str, secrets: set[str]) -> str:
    """jq shortens long values in its messages (`"CANARY-SEC...`): hide a secret's start too."""
    if "..." not in message or not secrets:
        return message
    pieces: list[str] = []
    done = 0
    for match in re.finditer(r"\.\.\.", message):
        before = message[done : match.start()]
        for length in range(min(len(before), 64), 0, -1):
            if any(secret.startswith(before[-length:]) for secret in secrets):
                before = before[:-length] + MASK
                break
        pieces.append(before + "...")
        done = match.end()
    return "".join(pieces) + message[done:]


def _connector_from_output(output: list[Any]) -> tuple[str, dict[str, str], str]:
    if len(output) != 1:
        raise RenderError(f"the program must yield exactly one object, it yielded {len(output)}")
    document = output[0]
    if not isinstance(document, dict):
        raise RenderError(f"the program must yield an object, it yielded {_type_name(document)}")
    unknown = sorted(set(document) - {"name", "config", "state"})
    if unknown:
        raise RenderError(
            f"unexpected top-level keys {unknown}; only name, config and state are read"
        )
    state = document.get("state", "running")
    if state not in STATES:
        raise RenderError(
            f'"state" must be one of {", ".join(STATES)}, got {json.dumps(state)[:40]}'
        )
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
    return name, config, state


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


# JSON's types as jq names them (jq's `type`), with an article.
_TYPE_NAMES: dict[type[Any], str] = {
    dict: "an object",
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES[type(value)]
