"""The auto-restart settings and the back-off schedule they define (see restarts.py).

A module of its own so that `settings` can read it without importing what restarts need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from connect_operator.errors import SettingsError

DEFAULT_MAX_ATTEMPTS = 7
DEFAULT_BACKOFF_UNIT = 60.0
DEFAULT_BACKOFF_CAP = 3600.0
DEFAULT_RESET_AFTER = 600.0


@dataclass(frozen=True)
class RestartPolicy:
    """How failed connectors are restarted (settings `CONNECT_OPERATOR_AUTO_RESTART*`)."""

    enabled: bool = True
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    # Seconds in one step of the n² + n schedule (Strimzi: a minute).
    backoff_unit: float = DEFAULT_BACKOFF_UNIT
    # The longest wait between two attempts.
    backoff_cap: float = DEFAULT_BACKOFF_CAP
    # Healthy this long after its last attempt: the record is reset.
    reset_after: float = DEFAULT_RESET_AFTER

    def wait_after(self, attempt: int) -> float:
        """Seconds between attempt `attempt` (1-based) and the next: (n² + n) units, capped."""
        return min((attempt * attempt + attempt) * self.backoff_unit, self.backoff_cap)

    def due_at(self, first_attempt_at: float, attempt: int) -> float:
        """When attempt `attempt` is due, for a failure whose attempt 1 was at the given time."""
        return first_attempt_at + sum(self.wait_after(n) for n in range(1, attempt))


def restart_policy_from_env(environ: Mapping[str, str]) -> RestartPolicy:
    """Read the auto-restart settings; SettingsError names the variable of a bad value."""
    raw_enabled = environ.get("CONNECT_OPERATOR_AUTO_RESTART", "").strip().lower()
    if raw_enabled not in ("", "true", "false"):
        raise SettingsError(
            f"CONNECT_OPERATOR_AUTO_RESTART must be true or false, got {raw_enabled!r}"
        )
    return RestartPolicy(
        enabled=raw_enabled != "false",
        max_attempts=int(
            _number(environ, "CONNECT_OPERATOR_RESTART_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS, True)
        ),
        backoff_unit=_number(
            environ, "CONNECT_OPERATOR_RESTART_BACKOFF_UNIT", DEFAULT_BACKOFF_UNIT, False
        ),
        backoff_cap=_number(
            environ, "CONNECT_OPERATOR_RESTART_BACKOFF_CAP", DEFAULT_BACKOFF_CAP, False
        ),
        reset_after=_number(
            environ, "CONNECT_OPERATOR_RESTART_RESET_AFTER", DEFAULT_RESET_AFTER, False
        ),
    )


def _number(environ: Mapping[str, str], name: str, default: float, whole: bool) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if whole else float(raw)
    except ValueError:
        kind = "a whole number" if whole else "a number of seconds"
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value
