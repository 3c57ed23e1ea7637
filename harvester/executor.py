"""Runs queries against GitHub within the budget, through every fault GitHub has.

- every token spent → wait until the earliest reset (inline, or `RateLimitWait` when the
  wait is longer than the caller accepts: a worker defers its job instead of sleeping);
- `RATE_LIMITED` in a 200, or 403 with `x-ratelimit-remaining: 0` → that token is spent;
- 403/429 secondary limits → wait `retry-after` / until `x-ratelimit-reset`, else ≥ 60 s
  with exponential backoff;
- 502/504, timeouts, "Something went wrong" → retried with backoff, then raised so that
  the scan can split the batch.

Every request, point, wait and error is counted in `ScanStats`.
"""

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from harvester.batching import Query
from harvester.budget import Budget, Grant, Wait
from harvester.errors import RateLimited, RateLimitWait, SecondaryRateLimited, TransientError
from harvester.github import GitHubClient, Response

__all__ = ["Executor", "ScanStats"]

log = logging.getLogger(__name__)
SECONDARY_MIN_WAIT_S = 60.0


@dataclass
class ScanStats:
    requests: int = 0
    points: int = 0
    waits: int = 0
    wait_s: float = 0.0
    errors: int = 0
    reasons: list[str] = field(default_factory=list)

    def note(self, reason: str) -> None:
        """Keep a short, de-duplicated list of what the scan went through."""
        if reason not in self.reasons and len(self.reasons) < 50:
            self.reasons.append(reason)


WaitHook = Callable[[float, str], Awaitable[None] | None]


class Executor:
    def __init__(
        self,
        github: GitHubClient,
        budget: Budget,
        *,
        concurrency: int,
        stats: ScanStats | None = None,
        max_inline_wait_s: float = math.inf,
        transient_attempts: int = 3,
        backoff_s: float = 1.0,
        secondary_min_wait_s: float = SECONDARY_MIN_WAIT_S,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        on_wait: WaitHook | None = None,
        slots: asyncio.Semaphore | None = None,
    ) -> None:
        """`slots` bounds the requests in flight; pass one semaphore to every executor of
        a process so that `concurrency` holds for the process, not for each batch."""
        self.github = github
        self.budget = budget
        self.stats = stats or ScanStats()
        self.max_inline_wait_s = max_inline_wait_s
        self.transient_attempts = transient_attempts
        self.backoff_s = backoff_s
        self.secondary_min_wait_s = secondary_min_wait_s
        self._sleep = sleep
        self._on_wait = on_wait
        self._slots = slots or asyncio.Semaphore(concurrency)

    async def _wait(self, seconds: float, reason: str) -> None:
        if seconds > self.max_inline_wait_s:
            until = datetime.fromtimestamp(time.time() + seconds, UTC)
            self.stats.note(f"deferred {seconds:.0f} s: {reason}")
            raise RateLimitWait(until, seconds)
        self.stats.waits += 1
        self.stats.wait_s += seconds
        self.stats.note(f"waited: {reason}")
        log.warning("waiting %.1f s: %s", seconds, reason)
        if self._on_wait is not None:
            result = self._on_wait(seconds, reason)
            if result is not None:
                await result
        await self._sleep(seconds)

    async def _grant(self, points: int) -> Grant:
        while True:
            answer = await self.budget.reserve(points)
            if not isinstance(answer, Wait):
                return answer
            reason = (
                "every token's rate limit is spent"
                if answer.reason == "tokens"
                else "points-per-minute budget reached"
            )
            await self._wait(max(answer.seconds(time.time()), 0.05), reason)

    def _backoff(self, attempt: int) -> float:
        return float(self.backoff_s * (2 ** (attempt - 1)) * (1 + random.random() / 4))

    async def run(self, query: Query) -> Response:
        """Send `query` until GitHub answers it; raises TransientError after
        `transient_attempts` failures, RequestRejected at once."""
        failures = 0
        secondary = 0
        while True:
            grant = await self._grant(query.estimated_points)
            try:
                async with self._slots:
                    self.stats.requests += 1
                    response = await self.github.execute(query, token=grant.token)
            except RateLimited as exc:
                self.stats.errors += 1
                self.stats.note("primary rate limit reached")
                await self.budget.exhaust(grant, exc.reset_at)
                continue
            except SecondaryRateLimited as exc:
                self.stats.errors += 1
                secondary += 1
                wait_s = exc.retry_after_s
                if wait_s is None:
                    wait_s = self.secondary_min_wait_s * 2 ** (secondary - 1)
                await self._wait(wait_s, f"secondary rate limit (HTTP {exc.status})")
                continue
            except TransientError as exc:
                self.stats.errors += 1
                failures += 1
                self.stats.note(f"transient: {exc}")
                log.warning(
                    "GitHub request failed (%d/%d): %s", failures, self.transient_attempts, exc
                )
                if failures >= self.transient_attempts:
                    raise
                await self._sleep(self._backoff(failures))
                continue
            await self.budget.settle(grant, response.rate_limit)
            cost = response.rate_limit.cost if response.rate_limit else None
            log.debug(
                "%s: %d pages, %d units, ~%d points estimated, %s charged, %s left",
                query.name,
                len(query.pages),
                query.units,
                query.estimated_points,
                cost,
                response.rate_limit.remaining if response.rate_limit else "?",
            )
            self.stats.points += cost if cost is not None else query.estimated_points
            return response
