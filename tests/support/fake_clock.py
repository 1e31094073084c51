"""A fake monotonic clock and the sleep that advances it, so retries never really wait.

Give `clock.monotonic` to a `Deadline` and `clock.sleep` to the `ConnectClient` (or the hook's
`run`): every wait is recorded in `sleeps`, and the deadline sees exactly the time the waits
took, as it would with `time.monotonic` and `time.sleep`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connect_operator.reconcile import RunReport


@dataclass
class FakeClock:
    """Time that passes only when someone sleeps."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def monotonic(self) -> float:
        """The current fake time, in seconds."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the wait and move the clock on by it."""
        assert seconds >= 0, f"sleep({seconds}) is negative"
        self.sleeps.append(seconds)
        self.now += seconds


def reconcile_waiting_on(clock: FakeClock) -> Callable[..., RunReport]:
    """`reconcile` whose Connect clients wait their retries on `clock`, for code that calls it
    without a `sleep` of its own (the CLI): monkeypatch it in as that module's `reconcile`."""
    from connect_operator.reconcile import reconcile

    def clocked(*args: Any, **kwargs: Any) -> RunReport:
        return reconcile(*args, **{**kwargs, "sleep": clock.sleep})

    return clocked
