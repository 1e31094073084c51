"""Variables for the templates: Java `.properties` files and the environment.

Every `*.properties` file under the config directory is read once. A mounted ConfigMap, Secret or
projected volume is a tree of symlinks: `..2026_11_29_...` holds the files, `..data` links to it,
and each visible name (a file, or a sub-folder) links through `..data`. So the walk follows
symlinked folders, skips every dot-name (the `..` folders are reached through the visible links,
never read directly, so an old timestamped copy is never read), and reads each real file once.
A file is parsed as `java.util.Properties.load` does: `#`/`!` comments, `=`, `:` or whitespace
separators, backslash escapes, `\\uXXXX` and continuation lines; a UTF-8 byte order mark is
dropped, and an invalid `\\u` escape makes the file an error naming the file and line (Java
refuses the whole file too), logged, its variables left undefined. A key such as
`schema.registry.url` becomes the jq variable `$SCHEMA_REGISTRY_URL`.
`KAFKA_API_KEY`/`KAFKA_API_SECRET` are taken from the `username`/`password` of
`sasl.jaas.config`, as the original operator did, and are readable both as `$KAFKA_API_KEY` and
`env.KAFKA_API_KEY`. The JAAS value is read the way Kafka's own `JaasConfig`
tokenises it (java.io.StreamTokenizer's default syntax): `'` and `"` quotes alike (Confluent
Cloud's generated client configuration uses single quotes), backslash escapes inside quotes,
`//` and `/* */` comments, `;` ending each login module entry, and bare values that are words
(so `3600` or `a@b` must be quoted); and, as a Kafka client does, it must hold exactly one entry.

Nothing here logs a value: only key names and file names.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connect_operator.errors import VariablesError

log = logging.getLogger(__name__)

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
# java.io.StreamTokenizer's escapes inside a quoted string, as JaasConfig configures it.
_QUOTED_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


@dataclass(frozen=True)
class Variables:
    """What a template can read: `$NAME` variables and the `env` object."""

    values: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    # variable name -> the file that defined it, for error messages
    origins: Mapping[str, str] = field(default_factory=dict)

    def secret_strings(self) -> frozenset[str]:
        """The secret values: every environment value a template may read, and every variable
        whose name marks a credential. None of them may appear in a log line or an error."""
        from connect_operator.template_env import is_credential_name

        secrets = {value for name, value in self.values.items() if is_credential_name(name)}
        return frozenset(value for value in secrets | set(self.environ.values()) if value)


def parse_properties(text: str) -> dict[str, str]:
    """Parse the text of a Java properties file into an ordered key -> value dict.

    VariablesError names the line of an invalid `\\u` escape (never the value)."""
    result: dict[str, str] = {}
    for line_number, logical_line in _logical_lines(text.removeprefix("\ufeff")):
        try:
            key, value = _split_key_value(logical_line)
        except _MalformedEscape:
            raise VariablesError(
                f"line {line_number}: malformed \\uxxxx escape (four hex digits must follow \\u)"
            ) from None
        result[key] = value
    return result


class _MalformedEscape(ValueError):
    """A `\\u` not followed by four hex digits."""


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    natural_lines = re.split(r"\r\n|\r|\n", text)
    index = 0
    while index < len(natural_lines):
        line = natural_lines[index].lstrip(" \t\f")
        index += 1
        first_line = index
        if not line or line[0] in "#!":
            continue
        parts = []
        while _ends_with_continuation(line):
            parts.append(line[:-1])
            if index >= len(natural_lines):
                line = ""
                break
            line = natural_lines[index].lstrip(" \t\f")
            index += 1
        parts.append(line)
        yield first_line, "".join(parts)


def _ends_with_continuation(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _split_key_value(line: str) -> tuple[str, str]:
    position = 0
    length = len(line)
    while position < length:
        char = line[position]
        if char == "\\":
            position += 2
            continue
        if char in "=: \t\f":
            break
        position += 1
    raw_key = line[:position]
    rest = line[position:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return _unescape(raw_key), _unescape(rest)


def _unescape(text: str) -> str:
    # A logical line never ends in an unpaired backslash (that continues it), so every
    # backslash here has a character after it.
    out = []
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char != "\\":
            out.append(char)
            position += 1
            continue
        escaped = text[position + 1]
        if escaped == "u":
            digits = text[position + 2 : position + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                raise _MalformedEscape
            out.append(chr(int(digits, 16)))
            position += 6
            continue
        out.append(_ESCAPES.get(escaped, escaped))
        position += 2
    return "".join(out)


def variable_name(property_key: str) -> str:
    """`schema.registry.basic.auth.user.info` -> `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`."""
    name = re.sub(r"[^A-Z0-9_]", "_", property_key.upper())
    return f"_{name}" if name[:1].isdigit() else name


class JaasSyntaxError(ValueError):
    """A `sasl.jaas.config` value Kafka's JaasConfig would refuse; the message holds no value."""


# Kafka's JaasConfig tokenises with java.io.StreamTokenizer's default syntax, plus `//` and
# `/* */` comments and `-`, `_` and `$` as word characters: bytes 0-32 are whitespace; `/` starts
# a comment, `/* */` or else to the line end (`//`, and a lone `/`, which also swallows the
# character after it even when that is a line break); `'` and `"` quote up to the same quote or a
# line break, with backslash escapes; a word starts with a letter, `_`, `$` or a character from
# 160 up and goes on with those, digits, `.` and `-`; a number (digits with at most one `.`,
# perhaps after a `-`) has no text value, so a bare `3600` is not a value; every other character
# (`;`, `=`, `:`, `@`, `!`, `+`, 127-159, ...) is a token of its own, with no text value either.
# Patterns, not compiled objects: `re` compiles (and caches) them when a JAAS value is read,
# not at every start (most runs have none).
_JAAS_LEXEMES = r"""
      [\x00-\x20]+
    | /\*.*?(?:\*/|\Z)
    | /.?[^\n\r]*
    | (?P<quote>['"])(?P<quoted>(?:\\.|\\\Z|(?!(?P=quote))[^\\\n\r])*)(?P=quote)?
    | (?P<word>[A-Za-z_$\xa0-\U0010ffff][A-Za-z0-9_$.\-\xa0-\U0010ffff]*)
    | (?P<number>-?(?=[0-9.])[0-9]*(?:\.[0-9]*)?)
    | (?P<ordinary>.)
    """
_JAAS_LEXEME_FLAGS = re.VERBOSE | re.DOTALL
# Inside quotes: `\` and up to three octal digits (`\377` at most, so `\477` is `\47` then
# `7`), or one character, some of which stand for control characters.
_JAAS_ESCAPE_PATTERN = r"\\(?:([0-3][0-7]{0,2}|[4-7][0-7]?)|(.))"


def _jaas_tokens(text: str) -> list[tuple[str | None, str]]:
    """The tokens of a JAAS value as `(value, ordinary)`: a word or a quoted string has its value
    (and ordinary ""), a number None and "", a `;`, `=` or other ordinary character None and
    that character."""
    tokens: list[tuple[str | None, str]] = []
    for match in re.finditer(_JAAS_LEXEMES, text, _JAAS_LEXEME_FLAGS):
        if match["quote"]:
            tokens.append(
                (re.sub(_JAAS_ESCAPE_PATTERN, _jaas_escaped, match["quoted"], flags=re.DOTALL), "")
            )
        elif match["word"]:
            tokens.append((match["word"], ""))
        elif match["number"]:
            tokens.append((None, ""))
        elif match["ordinary"]:
            tokens.append((None, match["ordinary"]))
    return tokens


def _jaas_escaped(escape: re.Match[str]) -> str:
    octal, other = escape.groups()
    return chr(int(octal, 8)) if octal else _QUOTED_ESCAPES.get(other, other)


_CONTROL_FLAGS = ("REQUIRED", "REQUISITE", "SUFFICIENT", "OPTIONAL")
_END: tuple[str | None, str] = (None, "")  # what reading past the last token gives


def parse_jaas_config(text: str) -> list[tuple[str, str, dict[str, str]]]:
    """`<loginModuleClass> <controlFlag> (<optionName>=<optionValue>)*;` entries, as Kafka parses
    them: (module, flag, options). Raises JaasSyntaxError where Kafka would refuse the value; the
    message never holds a value (an option's name could be a misplaced secret too)."""
    tokens = iter(_jaas_tokens(text))
    entries = []
    for module, _ in tokens:
        flag, _ = next(tokens, _END)
        if flag is None:
            raise JaasSyntaxError("login module control flag not specified")
        if flag.upper() not in _CONTROL_FLAGS:
            raise JaasSyntaxError("invalid login module control flag")
        options: dict[str, str] = {}
        for key, ordinary in tokens:
            if ordinary == ";":
                break
            (_, equals), (value, _) = next(tokens, _END), next(tokens, _END)
            if equals != "=" or value is None:
                raise JaasSyntaxError("an option has no value")
            if key is not None:  # Kafka keeps `=x` under a null name no option is read by
                options[key] = value
        else:
            raise JaasSyntaxError("entry not terminated by a semicolon")
        if not module:
            raise JaasSyntaxError("login module not specified")
        entries.append((module, flag, options))
    if not entries:
        raise JaasSyntaxError("no login module specified")
    return entries


def jaas_credentials(jaas_config: str) -> dict[str, str]:
    """The `username`/`password` of a `sasl.jaas.config` value as KAFKA_API_KEY/SECRET.

    Raises JaasSyntaxError for a value that a Kafka client would refuse: one that JaasConfig
    cannot parse, or one with more than one login module entry (a client's context takes one)."""
    entries = parse_jaas_config(jaas_config)
    if len(entries) > 1:
        raise JaasSyntaxError(f"{len(entries)} login module entries, a client takes exactly one")
    ((_module, _flag, options),) = entries
    return {
        variable: options[option]
        for option, variable in (("username", "KAFKA_API_KEY"), ("password", "KAFKA_API_SECRET"))
        if option in options
    }


def properties_files(config_dir: Path) -> list[Path]:
    """Every `*.properties` file under config_dir, by visible path, each real file once.

    Symlinked folders are followed (a mounted volume links its sub-folders through `..data`);
    dot-names are skipped; a folder reached twice (a link loop) is walked once."""
    if not config_dir.is_dir():
        return []
    found: dict[str, Path] = {}
    walked: set[str] = set()
    for root, folders, files in os.walk(config_dir, followlinks=True):
        real_root = os.path.realpath(root)
        if real_root in walked:
            folders[:] = []
            continue
        walked.add(real_root)
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith(".") or not name.endswith(".properties") or not path.is_file():
                continue
            found.setdefault(os.path.realpath(path), path)
    return sorted(found.values())


def load_variables(config_dir: Path, environ: Mapping[str, str]) -> Variables:
    """Read every properties file under config_dir into template variables.

    Files are read in sorted order; a later definition of the same variable wins, with a warning
    that names the key and both files (never the values).
    """
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for path in properties_files(config_dir):
        try:
            raw = path.read_bytes()
        except OSError as exc:
            log.warning("cannot read variables file %s: %s", path, exc.strerror)
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        try:
            parsed = parse_properties(text)
        except VariablesError as exc:
            log.error("variables file %s: %s; none of its variables are defined", path, exc)
            continue
        for key, value in parsed.items():
            name = variable_name(key)
            if name in origins and values[name] != value:
                log.warning(
                    "variable $%s from %s overrides the one from %s", name, path, origins[name]
                )
            values[name] = value
            origins[name] = str(path)
    jaas = values.get("SASL_JAAS_CONFIG")
    env = dict(environ)
    if jaas:
        try:
            credentials = jaas_credentials(jaas)
        except JaasSyntaxError as exc:
            # Never the value: it holds the secret. A template that reads $KAFKA_API_KEY then
            # fails with that variable named, scoped to its own ConfigMap key.
            log.warning(
                "sasl.jaas.config in %s is not valid JAAS (%s): KAFKA_API_KEY and "
                "KAFKA_API_SECRET are not defined",
                origins["SASL_JAAS_CONFIG"],
                exc,
            )
            credentials = {}
        for name, value in credentials.items():
            values.setdefault(name, value)
            origins.setdefault(name, f"{origins['SASL_JAAS_CONFIG']} (sasl.jaas.config)")
            env[name] = values[name]
    return Variables(values=values, environ=env, origins=origins)
