"""Settings: a pure function of the environment, read in this one place.

Every knob is an environment variable; `Settings.from_env(os.environ)` turns them into a frozen
dataclass and raises `SettingsError` naming the variable when a value is unusable. The README's
settings table documents the same names and defaults as `ENVIRONMENT_VARIABLES` below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connect_operator.errors import SettingsError
from connect_operator.restart_policy import (
    DEFAULT_BACKOFF_CAP,
    DEFAULT_BACKOFF_UNIT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_RESET_AFTER,
    RestartPolicy,
    restart_policy_from_env,
)
from connect_operator.template_env import parse_patterns

DEFAULT_CONNECT_URL = "http://connect"
DEFAULT_CONFIG_DIR = "/etc/config/connect-operator"
DEFAULT_CONFLUENT_CLOUD_API_URL = "https://api.confluent.cloud"
DEFAULT_LABEL_SELECTOR = "destination=connect"
DEFAULT_RESYNC_SCHEDULE = "*/5 * * * *"
DEFAULT_RETRY_SCHEDULE = "* * * * *"
DEFAULT_LEDGER_NAME = "connect-operator-ledger"
DEFAULT_REQUEST_TIMEOUT = 30.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_RUN_DEADLINE = 100.0
DEFAULT_MAX_DELETES = 10
DEFAULT_LOG_LEVEL = "info"
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_TEMPLATE_CPU_SECONDS = 2
DEFAULT_TEMPLATE_MEMORY_MB = 96

# name -> (meaning, default) for `connect-operator settings` and the README.
ENVIRONMENT_VARIABLES: dict[str, tuple[str, str]] = {
    "CONNECT_URL": (
        "self-managed Connect REST URL (`BASE_URL` also honoured)",
        DEFAULT_CONNECT_URL,
    ),
    "CONNECT_OPERATOR_CONFIG_DIR": ("folder of `*.properties` variable files", DEFAULT_CONFIG_DIR),
    "CONFLUENT_CLOUD_API_URL": ("base of the Confluent Cloud API", DEFAULT_CONFLUENT_CLOUD_API_URL),
    "CONNECT_REST_KEY": ("basic-auth user for Confluent Cloud", ""),
    "CONNECT_REST_SECRET": ("basic-auth password for Confluent Cloud", ""),
    "WATCH_NAMESPACES": ("comma list of namespaces to watch, `*` for all", "POD_NAMESPACE"),
    "POD_NAMESPACE": ("the operator's own namespace; holds the ledger", "default"),
    "CONNECTOR_LABEL_SELECTOR": ("label selector of connector ConfigMaps", DEFAULT_LABEL_SELECTOR),
    "RESYNC_SCHEDULE": ("crontab of the periodic full reconcile", DEFAULT_RESYNC_SCHEDULE),
    "CONNECT_OPERATOR_RETRY_SCHEDULE": (
        "crontab of the retry check: reconciles again only after a temporary failure or a change",
        DEFAULT_RETRY_SCHEDULE,
    ),
    "CONNECT_OPERATOR_LEDGER_NAME": ("name of the ownership ledger ConfigMap", DEFAULT_LEDGER_NAME),
    "CONNECT_OPERATOR_REQUEST_TIMEOUT": (
        "seconds to wait for one Connect response",
        str(DEFAULT_REQUEST_TIMEOUT),
    ),
    "CONNECT_OPERATOR_CONNECT_TIMEOUT": (
        "seconds to wait for a TCP connection to Connect",
        str(DEFAULT_CONNECT_TIMEOUT),
    ),
    "CONNECT_OPERATOR_RUN_DEADLINE": (
        "seconds one hook run may take before it gives up and exits 1",
        str(DEFAULT_RUN_DEADLINE),
    ),
    "CONNECT_OPERATOR_MAX_DELETES": (
        'most connectors one run may delete per target, prunes and `enabled: "false"` alike;'
        " above it none are (-1: no limit)",
        str(DEFAULT_MAX_DELETES),
    ),
    "CONNECT_OPERATOR_CLUSTER_NAMESPACES": (
        "comma list of namespaces, besides POD_NAMESPACE, whose Confluent Cloud cluster"
        " ConfigMaps are trusted",
        "",
    ),
    "CONNECT_OPERATOR_LOG_LEVEL": ("debug, info, warning or error", DEFAULT_LOG_LEVEL),
    "CONNECT_OPERATOR_TEMPLATE_ENV": (
        "environment names or globs templates may read (env.X, $ENV); unset: all but the"
        " operator's own settings, credentials and process variables",
        "",
    ),
    "CONNECT_OPERATOR_TEMPLATE_CPU_SECONDS": (
        "CPU seconds one ConfigMap key's jq program may use; past it, only that key fails",
        str(DEFAULT_TEMPLATE_CPU_SECONDS),
    ),
    "CONNECT_OPERATOR_TEMPLATE_MEMORY_MB": (
        "memory (MB) one ConfigMap key's jq program may use; past it, only that key fails",
        str(DEFAULT_TEMPLATE_MEMORY_MB),
    ),
    "CONNECT_OPERATOR_AUTO_RESTART": (
        "restart FAILED connectors and tasks of declared running connectors (true or false)",
        "true",
    ),
    "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS": (
        "restart attempts before a failed connector is given up",
        str(DEFAULT_MAX_ATTEMPTS),
    ),
    "CONNECT_OPERATOR_RESTART_BACKOFF_UNIT": (
        "seconds in one step of the n*n+n back-off between restart attempts",
        str(int(DEFAULT_BACKOFF_UNIT)),
    ),
    "CONNECT_OPERATOR_RESTART_BACKOFF_CAP": (
        "longest wait in seconds between two restart attempts",
        str(int(DEFAULT_BACKOFF_CAP)),
    ),
    "CONNECT_OPERATOR_RESTART_RESET_AFTER": (
        "seconds a restarted connector must stay healthy before its attempts are forgotten",
        str(int(DEFAULT_RESET_AFTER)),
    ),
}

_NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclass(frozen=True)
class Settings:
    """Everything the hook and the CLI need to know from the environment."""

    connect_url: str = DEFAULT_CONNECT_URL
    config_dir: Path = Path(DEFAULT_CONFIG_DIR)
    confluent_cloud_api_url: str = DEFAULT_CONFLUENT_CLOUD_API_URL
    confluent_cloud_key: str | None = None
    confluent_cloud_secret: str | None = None
    # None means every namespace.
    watch_namespaces: tuple[str, ...] | None = ("default",)
    own_namespace: str = "default"
    label_selector: str = DEFAULT_LABEL_SELECTOR
    resync_schedule: str = DEFAULT_RESYNC_SCHEDULE
    retry_schedule: str = DEFAULT_RETRY_SCHEDULE
    ledger_name: str = DEFAULT_LEDGER_NAME
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    run_deadline: float = DEFAULT_RUN_DEADLINE
    # None means no limit.
    max_deletes: int | None = DEFAULT_MAX_DELETES
    # Namespaces besides own_namespace whose Confluent Cloud cluster ConfigMaps are trusted.
    cluster_namespaces: tuple[str, ...] = ()
    log_level: str = DEFAULT_LOG_LEVEL
    # None: every variable except the hidden ones (template_env.HIDDEN_BY_DEFAULT).
    template_env: tuple[str, ...] | None = None
    template_cpu_seconds: int = DEFAULT_TEMPLATE_CPU_SECONDS
    template_memory_mb: int = DEFAULT_TEMPLATE_MEMORY_MB
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raise SettingsError on a bad value."""

        def text(name: str, default: str) -> str:
            value = environ.get(name, "").strip()
            return value or default

        own_namespace = text("POD_NAMESPACE", "default")
        _check_namespace("POD_NAMESPACE", own_namespace)
        connect_url = text("CONNECT_URL", text("BASE_URL", DEFAULT_CONNECT_URL))
        return cls(
            connect_url=_url("CONNECT_URL", connect_url),
            config_dir=Path(text("CONNECT_OPERATOR_CONFIG_DIR", DEFAULT_CONFIG_DIR)),
            confluent_cloud_api_url=_url(
                "CONFLUENT_CLOUD_API_URL",
                text("CONFLUENT_CLOUD_API_URL", DEFAULT_CONFLUENT_CLOUD_API_URL),
            ),
            confluent_cloud_key=environ.get("CONNECT_REST_KEY") or None,
            confluent_cloud_secret=environ.get("CONNECT_REST_SECRET") or None,
            watch_namespaces=_namespaces(text("WATCH_NAMESPACES", own_namespace)),
            own_namespace=own_namespace,
            label_selector=text("CONNECTOR_LABEL_SELECTOR", DEFAULT_LABEL_SELECTOR),
            resync_schedule=text("RESYNC_SCHEDULE", DEFAULT_RESYNC_SCHEDULE),
            retry_schedule=text("CONNECT_OPERATOR_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE),
            ledger_name=text("CONNECT_OPERATOR_LEDGER_NAME", DEFAULT_LEDGER_NAME),
            request_timeout=_seconds(environ, "CONNECT_OPERATOR_REQUEST_TIMEOUT", 30.0),
            connect_timeout=_seconds(environ, "CONNECT_OPERATOR_CONNECT_TIMEOUT", 5.0),
            run_deadline=_seconds(environ, "CONNECT_OPERATOR_RUN_DEADLINE", 100.0),
            max_deletes=_max_deletes(environ.get("CONNECT_OPERATOR_MAX_DELETES", "")),
            cluster_namespaces=_namespace_list(
                "CONNECT_OPERATOR_CLUSTER_NAMESPACES",
                environ.get("CONNECT_OPERATOR_CLUSTER_NAMESPACES", ""),
            ),
            log_level=_log_level(text("CONNECT_OPERATOR_LOG_LEVEL", DEFAULT_LOG_LEVEL)),
            template_env=parse_patterns(environ.get("CONNECT_OPERATOR_TEMPLATE_ENV", "")) or None,
            template_cpu_seconds=_positive_int(
                environ, "CONNECT_OPERATOR_TEMPLATE_CPU_SECONDS", DEFAULT_TEMPLATE_CPU_SECONDS
            ),
            template_memory_mb=_positive_int(
                environ, "CONNECT_OPERATOR_TEMPLATE_MEMORY_MB", DEFAULT_TEMPLATE_MEMORY_MB
            ),
            restart_policy=restart_policy_from_env(environ),
        )


def _url(name: str, value: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value):
        raise SettingsError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _check_namespace(name: str, value: str) -> None:
    if not _NAMESPACE_RE.match(value):
        raise SettingsError(f"{name} has an invalid namespace name {value!r}")


def _namespaces(value: str) -> tuple[str, ...] | None:
    names = tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))
    if "*" in names:
        return None
    for namespace in names:
        _check_namespace("WATCH_NAMESPACES", namespace)
    if not names:
        raise SettingsError("WATCH_NAMESPACES names no namespace")
    return names


def _namespace_list(name: str, value: str) -> tuple[str, ...]:
    names = tuple(sorted({part.strip() for part in value.split(",") if part.strip()}))
    for namespace in names:
        _check_namespace(name, namespace)
    return names


def _log_level(value: str) -> str:
    level = value.lower()
    if level == "warn":
        level = "warning"
    if level not in LOG_LEVELS:
        raise SettingsError(
            f"CONNECT_OPERATOR_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {value!r}"
        )
    return level


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _max_deletes(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return DEFAULT_MAX_DELETES
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"CONNECT_OPERATOR_MAX_DELETES must be an integer, got {raw!r}"
        ) from None
    return None if value < 0 else value


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value
