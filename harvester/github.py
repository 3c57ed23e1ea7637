"""The GitHub GraphQL client: one request at a time, classified.

Usage::

    async with GitHubClient(url=settings.GITHUB_GRAPHQL_URL, timeout_s=30) as github:
        response = await github.execute(query, token=token)   # -> Response, or raises
        response.rate_limit.remaining

gql (httpx transport) sends the query, validated first against the shipped schema
subset. gql folds a JSON 502 into a query error and loses the status, so an httpx event
hook records the status and headers of every response and `execute` classifies on
those (see `harvester.errors`). The token goes in a header and nowhere else.
"""

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import DocumentNode, parse, validate
from pydantic import SecretStr

from harvester import __version__
from harvester.batching import Query
from harvester.errors import (
    RateLimited,
    RequestRejected,
    SecondaryRateLimited,
    TransientError,
)
from harvester.queries import schema_sdl

__all__ = ["GitHubClient", "RateLimitInfo", "Response"]

log = logging.getLogger(__name__)
_EXCHANGE = "starledger.exchange"
_TRANSIENT_MESSAGES = ("something went wrong", "timedout", "timeout", "try again")
_RATE_LIMIT_TYPES = {"RATE_LIMITED", "RATE_LIMIT"}


@dataclass(frozen=True)
class RateLimitInfo:
    """What GitHub said of the token after a request (`rateLimit` and headers)."""

    remaining: int
    reset_at: datetime
    cost: int | None = None
    limit: int | None = None


@dataclass
class Response:
    data: dict[str, Any]
    errors: list[dict[str, Any]]
    rate_limit: RateLimitInfo | None
    status: int = 200


@dataclass
class _Exchange:
    """Filled by the response hook: what gql does not tell."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""


async def _capture_response(response: httpx.Response) -> None:
    exchange = response.request.extensions.get(_EXCHANGE)
    if isinstance(exchange, _Exchange):
        exchange.status = response.status_code
        exchange.headers = {k.lower(): v for k, v in response.headers.items()}
        if response.status_code != 200:
            await response.aread()
            exchange.body = response.text[:500]


def _epoch(value: str | None) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value else None
    except ValueError:
        return None


def _parse_datetime(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _rate_limit(data: dict[str, Any] | None, headers: dict[str, str]) -> RateLimitInfo | None:
    body = (data or {}).get("rateLimit") or {}
    remaining = body.get("remaining", headers.get("x-ratelimit-remaining"))
    reset_at = _parse_datetime(body.get("resetAt")) or _epoch(headers.get("x-ratelimit-reset"))
    if remaining is None or reset_at is None:
        return None
    limit = body.get("limit", headers.get("x-ratelimit-limit"))
    return RateLimitInfo(
        remaining=int(remaining),
        reset_at=reset_at,
        cost=body.get("cost"),
        limit=int(limit) if limit is not None else None,
    )


def _retry_after_s(headers: dict[str, str], now: datetime) -> float | None:
    """GitHub's rule: `retry-after` if present; else, when `x-ratelimit-remaining` is 0,
    until `x-ratelimit-reset`; else None (the caller waits ≥ 60 s and backs off)."""
    if "retry-after" in headers:
        try:
            return max(0.0, float(headers["retry-after"]))
        except ValueError:
            pass
    reset = _epoch(headers.get("x-ratelimit-reset"))
    if reset is None or headers.get("x-ratelimit-remaining") != "0":
        return None
    return max(0.0, (reset - now).total_seconds())


class _Prepared(GraphQLRequest):
    """A request of a document already validated: gql would parse the text again and
    print the AST back to text for every request (`GraphQLRequest.payload`); the text is
    sent as built. The transport only reads `payload`."""

    def __init__(self, query: Query) -> None:
        super().__init__(_EMPTY, variable_values=query.variables, operation_name=query.name)
        self._text = query.document

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"query": self._text, "operationName": self.operation_name}
        if self.variable_values:
            payload["variables"] = self.variable_values
        return payload


_EMPTY = DocumentNode(definitions=())
_VALIDATED_MAX = 4096


class GitHubClient:
    def __init__(
        self,
        *,
        url: str,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._transport = HTTPXAsyncTransport(
            url=url,
            timeout=httpx.Timeout(timeout_s),
            headers={
                "User-Agent": f"starledger/{__version__}",
                "X-Github-Next-Global-ID": "1",
            },
            event_hooks={"response": [_capture_response]},
            transport=transport,
        )
        self._client = Client(schema=schema_sdl(), transport=self._transport)
        # Documents are built from a few templates: a scan sends ~1,000 queries but only
        # ~100 distinct texts, so each is validated once (the texts are kept, not their
        # ASTs: 84 parsed documents weigh ~70 MB).
        self._validated: set[str] = set()

    async def __aenter__(self) -> "GitHubClient":
        await self._transport.connect()  # type: ignore[no-untyped-call]
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._transport.close()  # type: ignore[no-untyped-call]

    def request(self, query: Query) -> GraphQLRequest:
        """Parse and validate a query against the schema subset (raises GraphQLError),
        once per distinct document text."""
        if query.document not in self._validated:
            assert self._client.schema is not None
            errors = validate(self._client.schema, parse(query.document))
            if errors:
                raise errors[0]
            if len(self._validated) >= _VALIDATED_MAX:
                self._validated.clear()
            self._validated.add(query.document)
        return _Prepared(query)

    async def execute(self, query: Query, *, token: SecretStr) -> Response:
        """Send one query. Returns data with per-alias errors (partial results), or raises
        TransientError, RateLimited, SecondaryRateLimited or RequestRejected."""
        request = self.request(query)
        exchange = _Exchange()
        extra = {
            "headers": {"Authorization": f"bearer {token.get_secret_value()}"},
            "extensions": {_EXCHANGE: exchange},
        }
        result = None
        try:
            result = await self._transport.execute(request, extra_args=extra)
        except TransportError as exc:
            if exchange.status is None:
                cause = exc.__cause__
                kind = "timed out" if isinstance(cause, httpx.TimeoutException) else "failed"
                raise TransientError(f"request to GitHub {kind}: {type(cause).__name__}") from None
        data = result.data if result is not None else None
        errors: list[dict[str, Any]] = list(result.errors or []) if result is not None else []  # type: ignore[arg-type]
        return self._classify(exchange, data, errors)

    def _classify(
        self, exchange: _Exchange, data: dict[str, Any] | None, errors: list[dict[str, Any]]
    ) -> Response:
        status = exchange.status or 0
        headers = exchange.headers
        now = datetime.now(UTC)
        rate_limit = _rate_limit(data, headers)
        messages = "; ".join(str(e.get("message", "")) for e in errors)[:300]
        primary_spent = headers.get("x-ratelimit-remaining") == "0"
        if status in (403, 429):
            secondary = "secondary" in exchange.body.lower() or "retry-after" in headers
            if primary_spent and not secondary:
                raise RateLimited(
                    f"GitHub primary rate limit (HTTP {status})",
                    reset_at=_epoch(headers.get("x-ratelimit-reset")),
                    status=status,
                )
            if secondary or status == 429:
                raise SecondaryRateLimited(
                    f"GitHub secondary rate limit (HTTP {status})",
                    retry_after_s=_retry_after_s(headers, now),
                    status=status,
                )
        if status >= 500 or status == 0:
            raise TransientError(f"GitHub answered HTTP {status}", status=status)
        if status != 200:
            reason = "bad credentials" if status == 401 else exchange.body[:200]
            raise RequestRejected(
                f"GitHub rejected the request (HTTP {status}): {reason}", status=status
            )
        if any(str(e.get("type")) in _RATE_LIMIT_TYPES for e in errors):
            raise RateLimited(
                f"GitHub rate limit: {messages}",
                reset_at=_epoch(headers.get("x-ratelimit-reset"))
                or (rate_limit.reset_at if rate_limit else None),
            )
        global_errors = [e for e in errors if not e.get("path")]
        if global_errors or data is None:
            if data is None and not errors:
                raise TransientError("GitHub answered without data or errors", status=status)
            lowered = messages.lower()
            if any(m in lowered for m in _TRANSIENT_MESSAGES):
                raise TransientError(f"GitHub: {messages}", status=status)
            if data is None or global_errors:
                raise RequestRejected(f"GitHub refused the query: {messages}", status=status)
        return Response(data=data or {}, errors=errors, rate_limit=rate_limit, status=status)
