"""A fake monotonic clock and the sleep that advances it, so retries never really wait.

Give `clock.monotonic` to a `Deadline` and `clock.sleep` to the `ConnectClient` (or the hook's
`run`): every wait is recorded in `sleeps`, and the deadline sees exactly the time the waits
took, as it would with `time.monotonic` and `time.sleep`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
