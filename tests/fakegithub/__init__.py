"""A fake GitHub GraphQL API for starledger's tests and benchmarks.

It parses, validates and executes every query with graphql-core against the harvester's
schema subset, over an in-memory ``World``; prices queries with GitHub's formula,
enforces per-token budgets and GitHub's limits, paginates with real cursors, and injects
GitHub's failure modes on demand.  Typical use::

    world = World(seed=1)
    alice = world.add_user("alice", name="Alice", repos=30)
    fake = FakeGitHub(world, tokens=["t1"])
    async with serve(fake) as url:      # or httpx.ASGITransport(app=fake.app)
        ...                              # point the harvester at ``url``
    assert stored == world.truth([alice])
"""

from .cost import Analysis, analyze, points
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
    fault_from_spec,
    operation_is,
    query_contains,
)
from .population import heavy_tailed_population
from .ratelimit import Clock, TokenBudget
from .schema import build_executable_schema, github_schema
from .server import serve, serve_in_thread
from .service import FakeGitHub, Reply, RequestRecord
from .world import Owner, Repo, Truth, World

__all__ = [
    "Analysis",
    "Clock",
    "ErrorsIn200",
    "ExhaustBudget",
    "FakeGitHub",
    "Fault",
    "FaultPlan",
    "FaultRequest",
    "Http502",
    "Http504",
    "NotFoundAlias",
    "NullAlias",
    "Owner",
    "RateLimited",
    "Reply",
    "Repo",
    "RequestRecord",
    "SecondaryLimit",
    "Slow",
    "TokenBudget",
    "Truth",
    "World",
    "analyze",
    "build_executable_schema",
    "fault_from_spec",
    "github_schema",
    "heavy_tailed_population",
    "operation_is",
    "points",
    "query_contains",
    "serve",
    "serve_in_thread",
]
