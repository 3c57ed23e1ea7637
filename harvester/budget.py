"""The rate-limit budget: a pool of tokens and GitHub's points-per-minute limit, kept in
Redis so that several workers never overspend together.

Before each query a caller `reserve`s its estimated points: the token with the most
points left is picked and charged atomically (a Lua script), and the minute's points are
counted. When no token has enough left, `reserve` answers how long to wait (until the
earliest `resetAt`); the caller waits, visibly, and asks again. After the answer, `settle`
replaces the estimate with what GitHub reported. Tokens are stored by a fingerprint
(SHA-256 prefix), never in clear.
"""

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from redis.asyncio import Redis

from harvester.github import RateLimitInfo

__all__ = ["Budget", "Grant", "Wait"]

DEFAULT_LIMIT = 5000
_PREFIX = "starledger:budget"

# KEYS: minute bucket, then one hash per token. ARGV: points, now, default limit, per-minute cap.
# Returns {1, token_index} on success, {0, wait_until, why} when the caller must wait.
_RESERVE = """
local points = tonumber(ARGV[1])
local now = tonumber(ARGV[2])
local default_limit = tonumber(ARGV[3])
local per_minute = tonumber(ARGV[4])
local best, best_left, earliest = -1, -1, nil
for i = 2, #KEYS do
  local state = redis.call('HMGET', KEYS[i], 'remaining', 'reset_at', 'limit')
  local left = tonumber(state[1])
  local reset_at = tonumber(state[2])
  local limit = tonumber(state[3]) or default_limit
  if left == nil or reset_at == nil or reset_at <= now then
    left = limit
  elseif earliest == nil or reset_at < earliest then
    earliest = reset_at
  end
  if left > best_left then best, best_left = i, left end
end
if best_left < points then
  return {0, tostring(earliest or (now + 60)), 'tokens'}
end
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used > 0 and used + points > per_minute then
  return {0, tostring((math.floor(now / 60) + 1) * 60), 'minute'}
end
local state = redis.call('HMGET', KEYS[best], 'remaining', 'reset_at')
if state[1] == false or state[2] == false or tonumber(state[2]) <= now then
  redis.call('HSET', KEYS[best], 'remaining', best_left - points, 'reset_at', now + 3600)
else
  redis.call('HINCRBY', KEYS[best], 'remaining', -points)
end
redis.call('INCRBY', KEYS[1], points)
redis.call('EXPIRE', KEYS[1], 120)
return {1, tostring(best - 2), 'ok'}
"""


@dataclass(frozen=True)
class Grant:
    token_index: int
    token: SecretStr
    points: int
    minute_key: str


@dataclass(frozen=True)
class Wait:
    until: float  # epoch seconds
    reason: str  # "tokens" (every token spent) or "minute" (points per minute)

    def seconds(self, now: float) -> float:
        return max(0.0, self.until - now)


def fingerprint(token: SecretStr) -> str:
    return hashlib.sha256(token.get_secret_value().encode()).hexdigest()[:16]


class Budget:
    def __init__(
        self,
        redis: Redis,
        tokens: Sequence[SecretStr],
        *,
        points_per_minute: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not tokens:
            raise ValueError("the budget needs at least one token")
        self._redis = redis
        self._tokens = list(tokens)
        self._keys = [f"{_PREFIX}:token:{fingerprint(t)}" for t in self._tokens]
        self._points_per_minute = points_per_minute
        self._clock = clock
        self._reserve = redis.register_script(_RESERVE)

    def _minute_key(self, now: float) -> str:
        return f"{_PREFIX}:minute:{int(now // 60)}"

    async def reserve(self, points: int) -> Grant | Wait:
        now = self._clock()
        minute_key = self._minute_key(now)
        ok, value, reason = await self._reserve(
            keys=[minute_key, *self._keys],
            args=[points, now, DEFAULT_LIMIT, self._points_per_minute],
        )
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        if int(ok) == 1:
            index = int(value)
            return Grant(index, self._tokens[index], points, minute_key)
        return Wait(until=float(value), reason=reason)

    async def settle(self, grant: Grant, rate_limit: RateLimitInfo | None) -> None:
        """Replace the reservation by what GitHub reported (authoritative)."""
        if rate_limit is None:
            return
        pipe = self._redis.pipeline(transaction=True)
        mapping: dict[str, float | int] = {
            "remaining": rate_limit.remaining,
            "reset_at": rate_limit.reset_at.timestamp(),
        }
        if rate_limit.limit:
            mapping["limit"] = rate_limit.limit
        pipe.hset(self._keys[grant.token_index], mapping=mapping)
        if rate_limit.cost is not None and rate_limit.cost != grant.points:
            pipe.incrby(grant.minute_key, rate_limit.cost - grant.points)
        await pipe.execute()

    async def exhaust(self, grant: Grant, reset_at: datetime | None) -> None:
        """GitHub said the token is spent: nothing left until `reset_at`."""
        until = reset_at.timestamp() if reset_at else self._clock() + 60
        await self._redis.hset(  # type: ignore[misc]
            self._keys[grant.token_index], mapping={"remaining": 0, "reset_at": until}
        )

    async def refund(self, grant: Grant) -> None:
        """A request that never reached GitHub's executor costs nothing."""
        await self._redis.hincrby(  # type: ignore[misc]
            self._keys[grant.token_index], "remaining", grant.points
        )
