"""Variables for the templates: Java `.properties` files and the environment.

Every `*.properties` file under the config directory (recursively, skipping dot-directories such
as the `..data` links of a mounted Secret) is parsed as `java.util.Properties.load` does:
`#`/`!` comments, `=`, `:` or whitespace separators, backslash escapes, `\\uXXXX` and
continuation lines. A key such as `schema.registry.url` becomes the jq variable
`$SCHEMA_REGISTRY_URL`. `KAFKA_API_KEY`/`KAFKA_API_SECRET` are taken from the `username`/
`password` of `sasl.jaas.config`, as the original operator did, and are readable both as
`$KAFKA_API_KEY` and `env.KAFKA_API_KEY`.

Nothing here logs a value: only key names and file names.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_JAAS_FIELD = r'\b{0}\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;"]+))'


@dataclass(frozen=True)
class Variables:
    """What a template can read: `$NAME` variables and the `env` object."""

    values: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=dict)
    # variable name -> the file that defined it, for error messages
    origins: Mapping[str, str] = field(default_factory=dict)

    def secret_strings(self) -> frozenset[str]:
        """Every variable value: none of them may appear in a log line or an error."""
        return frozenset(value for value in self.values.values() if value)


def parse_properties(text: str) -> dict[str, str]:
    """Parse the text of a Java properties file into an ordered key -> value dict."""
    result: dict[str, str] = {}
    for logical_line in _logical_lines(text):
        key, value = _split_key_value(logical_line)
        result[key] = value
    return result


def _logical_lines(text: str) -> Iterator[str]:
    natural_lines = re.split(r"\r\n|\r|\n", text)
    index = 0
    while index < len(natural_lines):
        line = natural_lines[index].lstrip(" \t\f")
        index += 1
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
        yield "".join(parts)


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
    out = []
    position = 0
    length = len(text)
    while position < length:
        char = text[position]
        if char != "\\":
            out.append(char)
            position += 1
            continue
        if position + 1 >= length:
            break  # a lone trailing backslash is dropped, as Java does
        escaped = text[position + 1]
        if escaped == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[position + 2 : position + 6]):
            out.append(chr(int(text[position + 2 : position + 6], 16)))
            position += 6
            continue
        out.append(_ESCAPES.get(escaped, escaped))
        position += 2
    return "".join(out)


def variable_name(property_key: str) -> str:
    """`schema.registry.basic.auth.user.info` -> `SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO`."""
    name = re.sub(r"[^A-Z0-9_]", "_", property_key.upper())
    return f"_{name}" if name[:1].isdigit() else name


def jaas_credentials(jaas_config: str) -> dict[str, str]:
    """The `username`/`password` of a `sasl.jaas.config` value as KAFKA_API_KEY/SECRET."""
    credentials = {}
    for field_name, variable in (("username", "KAFKA_API_KEY"), ("password", "KAFKA_API_SECRET")):
        match = re.search(_JAAS_FIELD.format(field_name), jaas_config)
        if match:
            quoted, bare = match.groups()
            credentials[variable] = _unescape(quoted) if quoted is not None else bare
    return credentials


def properties_files(config_dir: Path) -> list[Path]:
    """Every `*.properties` file under config_dir, sorted, skipping dot-directories and files."""
    if not config_dir.is_dir():
        return []
    found = []
    for path in config_dir.rglob("*.properties"):
        relative = path.relative_to(config_dir)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            found.append(path)
    return sorted(found)


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
        for key, value in parse_properties(text).items():
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
        for name, value in jaas_credentials(jaas).items():
            values.setdefault(name, value)
            origins.setdefault(name, f"{origins['SASL_JAAS_CONFIG']} (sasl.jaas.config)")
            env[name] = values[name]
    return Variables(values=values, environ=env, origins=origins)
