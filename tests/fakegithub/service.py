"""The fake GitHub GraphQL endpoint, independent of any HTTP framework.

``FakeGitHub.handle`` takes the ``Authorization`` header and the raw body and returns a
``Reply`` (status, JSON or HTML body, headers), going through GitHub's steps in GitHub's
order: authenticate, check concurrency, parse, validate, coerce variables, price the
query and check its static limits, check the secondary and primary limits, charge,
execute.  Every request is recorded in ``log`` so tests can assert what a client sent
and what it was charged.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    execute_sync,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values

from .cost import analyze
from .errors import format_errors
from .faults import (
    ErrorsIn200,
    ExhaustBudget,
    Fault,
    FaultPlan,
    FaultRequest,
    Http502,
    Http504,
    NotFoundAlias,
    NullAlias,
    RateLimited,
    SecondaryLimit,
    Slow,
)
from .ratelimit import Clock, TokenBudget
from .resolvers import RequestContext
from .schema import github_schema
from .world import World

if TYPE_CHECKING:
    from starlette.applications import Starlette

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID "
    "{request_id}."
)
SECONDARY_DOCS = (
    "https://docs.github.com/graphql/overview/rate-limits-and-node-limits-for-the-graphql-api"
    "#secondary-rate-limits"
)
TIMEOUT_MESSAGE = (
    "Something went wrong while executing your query. This may be the result of a timeout, "
    "or it could be a GitHub bug. Please include `{request_id}` when reporting this issue."
)
HTML_502 = (
    "<!DOCTYPE html>\n<html>\n<head><title>Unicorn! &middot; GitHub</title></head>\n"
    "<body><p>We had issues producing the response to your request.</p>\n"
    "<p>Sorry about that. Please try refreshing and contact us if the problem persists.</p>"
    "</body>\n</html>\n"
)
HTML_504 = (
    "<html><body><h1>504 Gateway Time-out</h1>\n"
    "The server didn't respond in time.\n</body></html>\n"
)


@dataclass
class Reply:
    """An HTTP answer: JSON (dict) or text body."""

    status: int
    body: dict[str, Any] | str
    headers: dict[str, str] = field(default_factory=dict)
    cost: int | None = None
    charged: int = 0

    @property
    def content_type(self) -> str:
        if isinstance(self.body, str):
            return "text/html; charset=utf-8"
        return "application/json; charset=utf-8"

    def encoded(self) -> bytes:
        """The body as bytes."""
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, separators=(",", ":")).encode()


@dataclass
class RequestRecord:
    """One request as the fake saw it."""

    index: int
    token: str | None
    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    status: int = 0
    cost: int | None = None
    charged: int = 0
    fault: str | None = None
    error_types: list[str] = field(default_factory=list)
    started: float = 0.0
    seconds: float = 0.0


class FakeGitHub:
    """A GitHub GraphQL API over a ``World``: tokens, budgets, faults and a request log.

    ``tokens``: the valid tokens, as names (limit ``limit`` each) or a mapping token ->
    limit.  ``unknown_login_error``: whether ``repositoryOwner(login:)`` for an unknown
    login adds a NOT_FOUND error (True) or silently returns null (False).
    ``latency``: seconds every request waits before being answered.
    ``points_per_minute``: enable the secondary points-per-minute limit (GitHub: 2,000).
    ``max_concurrency``: concurrent requests per token before a 403 (GitHub: 100).
    """

    def __init__(
        self,
        world: World | None = None,
        *,
        tokens: Iterable[str] | Mapping[str, int] = ("token",),
        limit: int = 5000,
        clock: Clock | None = None,
        unknown_login_error: bool = True,
        latency: float = 0.0,
        points_per_minute: int | None = None,
        max_concurrency: int = 100,
        fault_seed: int = 0,
        schema: GraphQLSchema | None = None,
    ) -> None:
        self.world = world if world is not None else World()
        self.clock = clock if clock is not None else Clock()
        self.schema = schema if schema is not None else github_schema()
        self.unknown_login_error = unknown_login_error
        self.latency = latency
        self.points_per_minute = points_per_minute
        self.max_concurrency = max_concurrency
        self.faults = FaultPlan(seed=fault_seed)
        self.log: list[RequestRecord] = []
        self.budgets: dict[str, TokenBudget] = {}
        self.in_flight: Counter[str] = Counter()
        self.max_in_flight = 0
        self._app: Starlette | None = None
        self._documents: dict[str, DocumentNode | list[GraphQLError]] = {}
        limits = tokens if isinstance(tokens, Mapping) else dict.fromkeys(tokens, limit)
        for token, token_limit in limits.items():
            self.add_token(token, token_limit)

    @property
    def app(self) -> Starlette:
        """The ASGI app serving this fake (with the ``/_fake/`` control endpoints)."""
        if self._app is None:
            from .app import create_app

            self._app = create_app(self)
        return self._app

    # -- tokens and accounting -------------------------------------------------------

    def add_token(self, token: str, limit: int = 5000) -> TokenBudget:
        """Accept another token, with its own budget (and its own GitHub user id)."""
        budget = TokenBudget(token, 90_000_000 + len(self.budgets), self.clock, limit)
        self.budgets[token] = budget
        return budget

    def budget(self, token: str) -> TokenBudget:
        """The budget of ``token`` (``remaining``, ``reset_at``, ``exhaust()``...)."""
        return self.budgets[token]

    @property
    def requests(self) -> int:
        """Requests received (authenticated or not)."""
        return len(self.log)

    @property
    def points_charged(self) -> dict[str, int]:
        """Points charged per token since the start."""
        return {t: b.points_charged for t, b in self.budgets.items()}

    @property
    def total_points(self) -> int:
        """Points charged over all tokens."""
        return sum(self.points_charged.values())

    def records(self, operation_name: str | None = None) -> list[RequestRecord]:
        """Logged requests, optionally only those of one operation."""
        if operation_name is None:
            return list(self.log)
        return [r for r in self.log if r.operation_name == operation_name]

    # -- the endpoint ----------------------------------------------------------------

    async def handle(self, authorization: str | None, body: bytes) -> Reply:
        """Answer one ``POST /graphql``."""
        started = self.clock.now()
        t0 = time.perf_counter()
        record = RequestRecord(len(self.log), None, None, None, None, started=started)
        self.log.append(record)
        reply = await self._handle(authorization, body, record)
        record.status = reply.status
        record.cost = reply.cost
        record.charged = reply.charged
        if isinstance(reply.body, dict):
            record.error_types = [
                str(e.get("type", "")) for e in reply.body.get("errors", ()) if isinstance(e, dict)
            ]
        record.seconds = time.perf_counter() - t0
        return reply

    async def _handle(self, authorization: str | None, body: bytes, record: RequestRecord) -> Reply:
        token = _bearer(authorization)
        if token is None:
            return Reply(
                401,
                {
                    "message": "This endpoint requires you to be authenticated.",
                    "documentation_url": "https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql",
                },
            )
        if token not in self.budgets:
            return Reply(
                401,
                {
                    "message": "Bad credentials",
                    "documentation_url": "https://docs.github.com/graphql",
                },
            )
        record.token = token
        budget = self.budgets[token]
        try:
            payload = json.loads(body or b"null")
        except ValueError:
            return Reply(400, {"message": "Problems parsing JSON"}, budget.headers())
        if not isinstance(payload, dict):
            return Reply(400, {"message": "Problems parsing JSON"}, budget.headers())
        query = payload.get("query")
        variables = payload.get("variables")
        operation_name = payload.get("operationName")
        record.query = query if isinstance(query, str) else None
        record.variables = variables if isinstance(variables, dict) else None
        record.operation_name = operation_name if isinstance(operation_name, str) else None

        self.in_flight[token] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight[token])
        try:
            if self.in_flight[token] > self.max_concurrency:
                record.fault = "concurrency"
                return self._secondary(budget, SecondaryLimit(403, retry_after=60))
            if self.latency:
                await asyncio.sleep(self.latency)
            fault = self.faults.next_fault(
                FaultRequest(
                    record.index,
                    token,
                    record.query or "",
                    record.variables or {},
                    record.operation_name,
                )
            )
            record.fault = fault.name if fault else None
            return await self._with_fault(fault, budget, payload, record)
        finally:
            self.in_flight[token] -= 1

    async def _with_fault(
        self,
        fault: Fault | None,
        budget: TokenBudget,
        payload: dict[str, Any],
        record: RequestRecord,
    ) -> Reply:
        request_id = f"F4KE:{record.index:04X}:{int(record.started):X}"
        if isinstance(fault, Slow):
            await asyncio.sleep(fault.seconds)
        if isinstance(fault, ExhaustBudget):
            budget.exhaust(fault.reset_in)
        if isinstance(fault, (Http502, Http504, ErrorsIn200)):
            ran = self.execute(budget, payload) if fault.charge else Reply(200, {})
            headers = budget.headers()
            if isinstance(fault, ErrorsIn200):
                body: dict[str, Any] = {"errors": [{"message": fault.message}]}
                if fault.data_null:
                    body = {"data": None, **body}
                return Reply(200, body, headers, ran.cost, ran.charged)
            if isinstance(fault, Http502) and not fault.html:
                message = TIMEOUT_MESSAGE.format(request_id=request_id)
                return Reply(
                    502,
                    {"data": None, "errors": [{"message": message}]},
                    headers,
                    ran.cost,
                    ran.charged,
                )
            html = HTML_502 if isinstance(fault, Http502) else HTML_504
            status = 502 if isinstance(fault, Http502) else 504
            return Reply(status, html, headers, ran.cost, ran.charged)
        if isinstance(fault, SecondaryLimit):
            return self._secondary(budget, fault, request_id)
        if isinstance(fault, RateLimited):
            headers = budget.headers()
            headers["x-ratelimit-remaining"] = "0"
            headers["x-ratelimit-reset"] = str(int(self.clock.now() + fault.reset_in))
            return Reply(
                200,
                {
                    "errors": [
                        {
                            "type": fault.error_type,
                            "message": f"API rate limit exceeded for user ID {budget.user_id}.",
                        }
                    ]
                },
                headers,
            )
        not_found = frozenset({fault.alias}) if isinstance(fault, NotFoundAlias) else frozenset()
        null = frozenset({fault.alias}) if isinstance(fault, NullAlias) else frozenset()
        return self.execute(budget, payload, not_found_aliases=not_found, null_aliases=null)

    def _secondary(
        self, budget: TokenBudget, fault: SecondaryLimit, request_id: str = "F4KE:0000"
    ) -> Reply:
        headers = budget.headers()
        if fault.retry_after is not None:
            headers["retry-after"] = str(fault.retry_after)
        if fault.reset_in is not None:
            headers["x-ratelimit-remaining"] = "0"
            headers["x-ratelimit-reset"] = str(int(self.clock.now() + fault.reset_in))
        return Reply(
            fault.status,
            {
                "message": SECONDARY_MESSAGE.format(request_id=request_id),
                "documentation_url": SECONDARY_DOCS,
            },
            headers,
        )

    # -- GraphQL ---------------------------------------------------------------------

    def _parse_and_validate(self, query: str) -> DocumentNode | list[GraphQLError]:
        """The validated document of ``query``, or its syntax/validation errors.

        Memoised by query text: the harvester sends the same few documents with new
        variables, and both steps are pure functions of (schema, text).
        """
        cached = self._documents.get(query)
        if cached is None:
            try:
                document = parse(query)
            except GraphQLError as error:
                cached = [error]
            else:
                cached = validate(self.schema, document) or document
            if len(self._documents) >= 512:
                self._documents.pop(next(iter(self._documents)))
            self._documents[query] = cached
        return cached

    def execute(
        self,
        budget: TokenBudget,
        payload: Mapping[str, Any],
        *,
        not_found_aliases: frozenset[str] = frozenset(),
        null_aliases: frozenset[str] = frozenset(),
    ) -> Reply:
        """Parse, validate, price, charge and execute one request body (synchronously)."""

        def errors(errs: Iterable[GraphQLError], data_null: bool = False) -> Reply:
            body: dict[str, Any] = {"errors": format_errors(list(errs))}
            if data_null:
                body = {"data": None, **body}
            return Reply(200, body, budget.headers())

        query, variables = payload.get("query"), payload.get("variables")
        operation_name = payload.get("operationName")
        if not isinstance(query, str) or not query.strip():
            return errors(
                [GraphQLError("A query attribute must be specified and must be a string.")]
            )
        if variables is None:
            variables = {}
        if not isinstance(variables, dict):
            return errors([GraphQLError("Variables are invalid JSON.")])
        if operation_name is not None and not isinstance(operation_name, str):
            return errors([GraphQLError("operationName must be a string.")])
        parsed = self._parse_and_validate(query)
        if isinstance(parsed, list):
            return errors(parsed)
        document = parsed
        operation = get_operation_ast(document, operation_name)
        if not isinstance(operation, OperationDefinitionNode):
            message = (
                f"Unknown operation named '{operation_name}'."
                if operation_name
                else "An operation name is required when the document has several operations."
            )
            return errors([GraphQLError(message)])
        coerced = get_variable_values(self.schema, operation.variable_definitions or (), variables)
        if isinstance(coerced, list):
            return errors(coerced)
        analysis = analyze(self.schema, document, operation, coerced)
        if analysis.errors:
            return errors(analysis.errors, data_null=True)
        cost = analysis.cost
        if not analysis.dry_run:
            if (
                self.points_per_minute is not None
                and budget.minute_points() + cost > self.points_per_minute
            ):
                reply = self._secondary(
                    budget, SecondaryLimit(403, retry_after=budget.minute_retry_after())
                )
                reply.cost = cost
                return reply
            if not budget.can_afford(cost):
                headers = budget.headers()
                headers["x-ratelimit-remaining"] = "0"
                return Reply(
                    200,
                    {
                        "errors": [
                            {
                                "type": "RATE_LIMITED",
                                "message": f"API rate limit exceeded for user ID {budget.user_id}.",
                            }
                        ]
                    },
                    headers,
                    cost,
                )
            budget.charge(cost)
        context = RequestContext(
            self.world,
            analysis,
            budget,
            self.unknown_login_error,
            not_found_aliases,
            null_aliases,
        )
        with self.world.lock:
            result = execute_sync(
                self.schema,
                document,
                context_value=context,
                variable_values=variables,
                operation_name=operation_name,
            )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = format_errors(result.errors)
        charged = 0 if analysis.dry_run else cost
        return Reply(200, body, budget.headers(), cost, charged)


def _bearer(authorization: str | None) -> str | None:
    """The token of ``Authorization: bearer X`` (or GitHub's ``token X``)."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() not in ("bearer", "token") or not token.strip():
        return None
    return token.strip()
