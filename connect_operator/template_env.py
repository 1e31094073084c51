"""What a ConfigMap's jq program may read from the environment, and which values are secret.

A watched namespace is a tenant, not an admin: the author of a labelled ConfigMap must not read
the operator's own credentials through `env.X`, `$ENV` or jq's `env`. So templates see a
filtered copy of the environment:

- with `CONNECT_OPERATOR_TEMPLATE_ENV` set (names or globs, comma or space separated), exactly the
  variables it names;
- without it, every variable except the operator's own settings and credentials and the
  process's own (`HIDDEN_BY_DEFAULT`).

`KAFKA_API_KEY`/`KAFKA_API_SECRET` (from `sasl.jaas.config`) are added after the filter, as
before. The renderer's child process gets only this environment, so even jq's builtin `env`
cannot see more.

Secret values, which are scrubbed from everything we print or write: every value of the template
environment, and every `$VARIABLE` whose name marks a credential (`is_credential_name`).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping

# The operator's settings and credentials, shell-operator's own, and the process's.
HIDDEN_BY_DEFAULT: tuple[str, ...] = (
    "CONNECT_*",  # CONNECT_URL, CONNECT_REST_KEY/SECRET, every CONNECT_OPERATOR_* setting
    "CONNECTOR_LABEL_SELECTOR",
    "CONFLUENT_CLOUD_*",
    "BASE_URL",
    "WATCH_NAMESPACES",
    "POD_NAMESPACE",
    "RESYNC_SCHEDULE",
    "KUBERNETES_*",
    "SHELL_OPERATOR_*",
    "*_PATH",  # BINDING_CONTEXT_PATH, METRICS_PATH, KUBERNETES_PATCH_PATH, ...
    "LOG_*",
    "DEBUG_*",
    "JQ_LIBRARY_PATH",
    "PATH",
    "HOME",
    "HOSTNAME",
    "USER",
    "LOGNAME",
    "SHELL",
    "PWD",
    "OLDPWD",
    "SHLVL",
    "TERM",
    "TZ",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TMPDIR",
    "PYTHON*",
    "VIRTUAL_ENV",
    "LD_*",
    "SSL_CERT_*",
    "REQUESTS_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "_",
)

# Substrings of a variable's name (lower case, `_` read as `.`) that mark a credential.
CREDENTIAL_MARKERS = (
    "password",
    "secret",
    "key",
    "token",
    "credential",
    "jaas",
    "user.info",
    "auth",
)


def parse_patterns(raw: str) -> tuple[str, ...]:
    """`A, B_*  C` -> ("A", "B_*", "C")."""
    return tuple(part for part in re.split(r"[\s,]+", raw.strip()) if part)


class _Patterns:
    """Names and globs, matched without compiling a regular expression for the common forms."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.exact: set[str] = set()
        self.prefixes: list[str] = []
        self.suffixes: list[str] = []
        self.globs: list[str] = []
        for pattern in patterns:
            if not any(char in pattern for char in "*?["):
                self.exact.add(pattern)
            elif pattern.endswith("*") and not any(char in pattern[:-1] for char in "*?["):
                self.prefixes.append(pattern[:-1])
            elif pattern.startswith("*") and not any(char in pattern[1:] for char in "*?["):
                self.suffixes.append(pattern[1:])
            else:
                self.globs.append(pattern)

    def match(self, name: str) -> bool:
        return (
            name in self.exact
            or name.startswith(tuple(self.prefixes))
            or name.endswith(tuple(self.suffixes))
            or any(fnmatch.fnmatchcase(name, glob) for glob in self.globs)
        )


_HIDDEN = _Patterns(HIDDEN_BY_DEFAULT)


def template_environ(
    environ: Mapping[str, str], allowlist: tuple[str, ...] | None
) -> dict[str, str]:
    """The environment a template may read: the allowlist's names, or all but the hidden ones."""
    if allowlist is None:
        return {name: value for name, value in environ.items() if not _HIDDEN.match(name)}
    allowed = _Patterns(allowlist)
    return {name: value for name, value in environ.items() if allowed.match(name)}


def is_credential_name(name: str) -> bool:
    """True for `DB_PASSWORD`, `schema.registry.basic.auth.user.info`, `KAFKA_API_KEY`, ..."""
    folded = name.lower().replace("_", ".").replace("-", ".")
    return any(marker in folded for marker in CREDENTIAL_MARKERS)
