"""Deterministic fault injection: the ways GitHub fails that a harvester must survive.

Each fault is a small frozen dataclass describing one misbehaviour; ``FaultPlan`` decides
which request gets which fault -- a queue for "the next N requests", and rules that fire
on a predicate (operation name, query text, token...) and/or with a seeded probability.
Nothing depends on wall-clock order or global randomness, so a failing test replays.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Fault:
    """Base class of all faults."""

    @property
    def name(self) -> str:
        """Short label used in the request log."""
        return type(self).__name__


@dataclass(frozen=True)
class Http502(Fault):
    """502 Bad Gateway after a server timeout: GitHub's JSON body, or an HTML page.

    ``charge``: GitHub still charges the query (it ran until the timeout).
    """

    html: bool = False
    charge: bool = True


@dataclass(frozen=True)
class Http504(Fault):
    """504 Gateway Timeout with an HTML body."""

    charge: bool = True


@dataclass(frozen=True)
class Slow(Fault):
    """Answer normally, but only after ``seconds`` (to trip client timeouts)."""

    seconds: float = 5.0


@dataclass(frozen=True)
class SecondaryLimit(Fault):
    """A secondary rate limit: 403 or 429, with ``retry-after``, ``x-ratelimit-reset``
    (and ``x-ratelimit-remaining: 0``), or neither header (client must wait >= 60 s)."""

    status: int = 403
    retry_after: int | None = 60
    reset_in: int | None = None


@dataclass(frozen=True)
class RateLimited(Fault):
    """HTTP 200 with ``errors[].type`` RATE_LIMITED (or the ``RATE_LIMIT`` variant) and
    ``x-ratelimit-remaining: 0``; ``x-ratelimit-reset`` is ``reset_in`` seconds away.
    The token's real budget is not touched (see ``ExhaustBudget`` for that)."""

    error_type: str = "RATE_LIMITED"
    reset_in: int = 1


@dataclass(frozen=True)
class ExhaustBudget(Fault):
    """The token's budget drops to 0 with ``resetAt`` ``reset_in`` seconds away; this
    request (and every one until the reset) is then answered RATE_LIMITED."""

    reset_in: float = 2.0


@dataclass(frozen=True)
class NotFoundAlias(Fault):
    """The root field with response key ``alias`` resolves to null + a NOT_FOUND error
    (with ``path``); the other aliases of the query are answered normally."""

    alias: str


@dataclass(frozen=True)
class NullAlias(Fault):
    """The root field ``alias`` resolves to null with no error at all."""

    alias: str


@dataclass(frozen=True)
class ErrorsIn200(Fault):
    """HTTP 200 with ``{"data": null, "errors": [{"message": "timedout"}]}``-style body."""

    message: str = "timedout"
    data_null: bool = True
    charge: bool = True


@dataclass(frozen=True)
class FaultRequest:
    """What a rule's predicate can look at."""

    index: int
    token: str
    query: str
    variables: Mapping[str, Any]
    operation_name: str | None


Predicate = Callable[[FaultRequest], bool]


@dataclass
class _Rule:
    fault: Fault
    when: Predicate | None
    times: int | None
    rate: float | None
    rng: random.Random


@dataclass
class FaultPlan:
    """Which request gets which fault: queued faults first, then rules in order."""

    seed: int = 0
    queue: deque[Fault] = field(default_factory=deque)
    rules: list[_Rule] = field(default_factory=list)
    injected: list[tuple[int, str]] = field(default_factory=list)

    def push(self, *faults: Fault) -> None:
        """The next requests (one fault each, in order) fail like this."""
        self.queue.extend(faults)

    def add_rule(
        self,
        fault: Fault,
        when: Predicate | None = None,
        *,
        times: int | None = None,
        rate: float | None = None,
    ) -> None:
        """Inject ``fault`` into requests matching ``when`` (all if None), at most
        ``times`` times (unbounded if None), with probability ``rate`` (seeded)."""
        rng = random.Random(f"{self.seed}:{len(self.rules)}")
        self.rules.append(_Rule(fault, when, times, rate, rng))

    def clear(self) -> None:
        """No more faults."""
        self.queue.clear()
        self.rules.clear()

    def next_fault(self, request: FaultRequest) -> Fault | None:
        """The fault for this request, if any (consumes queue entries / rule budgets)."""
        fault = self._pick(request)
        if fault is not None:
            self.injected.append((request.index, fault.name))
        return fault

    def _pick(self, request: FaultRequest) -> Fault | None:
        if self.queue:
            return self.queue.popleft()
        for rule in self.rules:
            if rule.times is not None and rule.times <= 0:
                continue
            if rule.when is not None and not rule.when(request):
                continue
            if rule.rate is not None and rule.rng.random() >= rule.rate:
                continue
            if rule.times is not None:
                rule.times -= 1
            return rule.fault
        return None


def operation_is(name: str) -> Predicate:
    """Predicate: the request's ``operationName`` (or first operation) is ``name``."""

    def match(request: FaultRequest) -> bool:
        if request.operation_name is not None:
            return request.operation_name == name
        return f"query {name}" in request.query

    return match


def query_contains(text: str) -> Predicate:
    """Predicate: the query text contains ``text``."""
    return lambda request: text in request.query


_KINDS: dict[str, Callable[..., Fault]] = {
    "502": Http502,
    "502_html": lambda **kw: Http502(html=True, **kw),
    "504": Http504,
    "slow": Slow,
    "secondary_403": SecondaryLimit,
    "secondary_429": lambda **kw: SecondaryLimit(status=429, retry_after=None, **kw),
    "secondary_403_bare": lambda **kw: SecondaryLimit(retry_after=None, **kw),
    "rate_limited": RateLimited,
    "exhaust_budget": ExhaustBudget,
    "not_found_alias": NotFoundAlias,
    "null_alias": NullAlias,
    "errors_200": ErrorsIn200,
}


def fault_from_spec(spec: Mapping[str, Any]) -> Fault:
    """A fault from JSON (control endpoint): ``{"kind": "slow", "seconds": 3}``."""
    params = {k: v for k, v in spec.items() if k not in ("kind", "count")}
    kind = spec.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[kind](**params)
