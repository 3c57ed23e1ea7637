"""Per-token rate-limit state: the primary hourly budget and the secondary limits.

GitHub's primary GraphQL limit is a points budget per token per hour: the window starts
with the first request, ``resetAt`` is one hour later, and a query whose cost exceeds
what is left is refused with ``RATE_LIMITED``.  The secondary limits (points per minute,
concurrent requests) are separate and answered with 403s.  Time comes from a ``Clock``
that tests can move forward, so a reset can be reached without waiting an hour.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime

WINDOW_SECONDS = 3600.0


class Clock:
    """Wall-clock time plus an offset tests control (``advance``), or a frozen time."""

    def __init__(self, frozen_at: float | None = None) -> None:
        self._frozen = frozen_at
        self._offset = 0.0

    def now(self) -> float:
        """Seconds since the epoch, as the fake sees it."""
        base = self._frozen if self._frozen is not None else time.time()
        return base + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward (e.g. past ``resetAt``)."""
        self._offset += seconds


def iso(epoch: float) -> str:
    """GitHub's DateTime format, ``2024-05-01T12:00:00Z``."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class TokenBudget:
    """One token's primary budget and its accounting."""

    token: str
    user_id: int
    clock: Clock
    limit: int = 5000
    used: int = 0
    window_start: float | None = None
    reset_at_override: float | None = None
    points_charged: int = 0
    requests: int = 0
    _minute: deque[tuple[float, int]] = field(default_factory=deque)

    def _roll(self) -> None:
        now = self.clock.now()
        if self.window_start is None or now >= self.reset_at:
            self.window_start = now
            self.used = 0
            self.reset_at_override = None

    @property
    def reset_at(self) -> float:
        """Epoch seconds at which ``remaining`` goes back to ``limit``."""
        if self.reset_at_override is not None:
            return self.reset_at_override
        start = self.window_start if self.window_start is not None else self.clock.now()
        return start + WINDOW_SECONDS

    @property
    def remaining(self) -> int:
        """Points left in the current window."""
        self._roll()
        return max(0, self.limit - self.used)

    def can_afford(self, cost: int) -> bool:
        """Whether a query of ``cost`` points fits into what is left."""
        return cost <= self.remaining

    def charge(self, cost: int) -> None:
        """Spend ``cost`` points (also counted for the points-per-minute limit)."""
        self._roll()
        self.used += cost
        self.points_charged += cost
        self._minute.append((self.clock.now(), cost))

    def exhaust(self, reset_in: float = 2.0) -> None:
        """Budget gone, window resets in ``reset_in`` seconds (a near reset)."""
        self._roll()
        self.used = self.limit
        self.reset_at_override = self.clock.now() + reset_in

    def reset(self) -> None:
        """A fresh window starting now."""
        self.window_start = None
        self.reset_at_override = None
        self._roll()

    def minute_points(self) -> int:
        """Points charged in the last 60 seconds."""
        cutoff = self.clock.now() - 60.0
        while self._minute and self._minute[0][0] <= cutoff:
            self._minute.popleft()
        return sum(cost for _, cost in self._minute)

    def minute_retry_after(self) -> int:
        """Seconds until the oldest charge of the last minute drops out."""
        if not self._minute:
            return 1
        return max(1, math.ceil(self._minute[0][0] + 60.0 - self.clock.now()))

    def headers(self) -> dict[str, str]:
        """The ``x-ratelimit-*`` headers GitHub sends on every response."""
        remaining = self.remaining
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(remaining),
            "x-ratelimit-used": str(self.limit - remaining),
            "x-ratelimit-reset": str(int(self.reset_at)),
            "x-ratelimit-resource": "graphql",
        }
