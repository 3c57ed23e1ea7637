"""Shared plumbing of the harvester benchmarks (`harvest_cost.py`, `harvest_throughput.py`):
a database and a Redis db of their own, population statistics, REST and naive costs,
and plain-text tables. Nothing here is measured."""

import asyncio
import contextlib
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import asyncpg
from graphql import OperationDefinitionNode, get_operation_ast, parse
from graphql.execution.values import get_variable_values
from redis.asyncio import Redis
from redis.exceptions import RedisError

from harvester.batching import OwnerPage, Query, build_scan_query, pack_pages
from harvester.runs import plan_batches
from tests.fakegithub import analyze, github_schema

ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = os.environ.get("BENCH_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_BASE = os.environ.get("BENCH_REDIS_BASE", "redis://127.0.0.1:6379")
REST_PAGE = 100
REST_REQUESTS_PER_HOUR = 5000
GRAPHQL_POINTS_PER_HOUR = 5000


def database_urls(name: str) -> tuple[str, str]:
    """(asyncpg DSN, SQLAlchemy URL) of the benchmark database `name`."""
    dsn = ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    return dsn, dsn.replace("postgresql://", "postgresql+asyncpg://", 1)


async def recreate_database(name: str) -> str:
    """Drop and re-create `name`, migrate it with Alembic; returns its SQLAlchemy URL."""
    if not name.startswith("starledger_bench"):
        raise ValueError("benchmarks only ever drop databases named starledger_bench*")
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = database_urls(name)[1]
    await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
    )
    return url


async def flush_redis(db: int, base: str | None = None) -> str:
    """Empty Redis db `db` (the benchmark's own: arq queue and rate-limit budget) of the
    server at `base` (default: the shared one, BENCH_REDIS_BASE)."""
    if base is None and db in (0, 15):
        raise ValueError("db 0 is the default deployment's, 15 the tests'")
    url = f"{base or REDIS_BASE}/{db}"
    redis = Redis.from_url(url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    return url


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of `values`."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return float(ordered[rank - 1])


def size_distribution(sizes: Sequence[int]) -> dict[str, float]:
    """Public repositories per owner: count, total, median, p90, p99, max, and shares."""
    return {
        "owners": len(sizes),
        "repositories": sum(sizes),
        "median": statistics.median(sizes) if sizes else 0,
        "p90": percentile(sizes, 90),
        "p99": percentile(sizes, 99),
        "max": max(sizes, default=0),
        "zero": sum(1 for s in sizes if s == 0),
        "over_100": sum(1 for s in sizes if s > 100),
        "share_top_1pct": (
            sum(sorted(sizes)[-max(1, len(sizes) // 100) :]) / sum(sizes) if sum(sizes) else 0
        ),
    }


def rest_requests(sizes: Iterable[int]) -> tuple[int, int]:
    """(list requests, per-repository requests) of the REST approach: per owner
    `GET /users/{o}/repos?per_page=100` (ceil(n/100) pages, at least 1), then
    `GET /repos/{o}/{r}` per repository for `subscribers_count`."""
    listing = detail = 0
    for n in sizes:
        listing += max(1, math.ceil(n / REST_PAGE))
        detail += n
    return listing, detail


_SCHEMA = github_schema()


def query_points(query: Query) -> int:
    """What the fake (GitHub's formula) charges for `query`, computed statically."""
    document = parse(query.document)
    operation = get_operation_ast(document, query.name)
    assert isinstance(operation, OperationDefinitionNode)
    coerced = get_variable_values(_SCHEMA, operation.variable_definitions or (), query.variables)
    assert not isinstance(coerced, list), coerced
    analysis = analyze(_SCHEMA, document, operation, coerced)
    assert not analysis.errors, analysis.errors
    return analysis.cost


def naive_cost(owners: Sequence[tuple[int, str, int]], *, owners_per_query: int) -> tuple[int, int]:
    """(points, requests) when every page asks `first: 100`, whatever the owner has.

    `owners` are (database id, node id, public repositories). Each owner needs
    max(1, ceil(n/100)) pages; `owners_per_query` pages go into one query (1: one query
    per page). The real documents are built with `build_scan_query` and priced with the
    fake's cost analysis (GitHub's formula); cursors do not change a price, so follow-up
    pages are priced with `after: null`."""
    pages = [
        OwnerPage(owner_id, node_id, 100, None if k == 0 else f"c{k}")
        for owner_id, node_id, n in owners
        for k in range(max(1, math.ceil(n / 100)))
    ]
    points = requests = 0
    for start in range(0, len(pages), owners_per_query):
        chunk = pages[start : start + owners_per_query]
        # A query has one alias per owner: follow-up pages of one owner go to later queries.
        query = build_scan_query([OwnerPage(p.owner_id, p.node_id, 100) for p in chunk])
        points += query_points(query)
        requests += 1
    return points, requests


def sized_plan_cost(
    owners: Sequence[tuple[int, str, int]], *, max_points: int, batch_max_points: int
) -> tuple[int, int, int]:
    """(points, requests, rounds) of starledger's plan when every count is known exactly,
    priced statically with the harvester's own planning functions: owners (in id order)
    cut into batches by `plan_batches`; in each batch the first round packs every owner's
    `first = min(100, n)` (0 = count only) with `pack_pages`, and every later round packs
    the next page of each owner that has more. `rounds` is the longest batch's."""
    counts = {owner_id: n for owner_id, _, n in sorted(owners)}
    nodes = {owner_id: node for owner_id, node, _ in owners}
    batches = plan_batches(list(counts.items()), max_points=batch_max_points)
    points = requests = longest = 0
    for batch in batches:
        remaining = {o: counts[o] for o in batch}
        pending = [OwnerPage(o, nodes[o], min(100, remaining[o])) for o in batch]
        rounds = 0
        while pending:
            rounds += 1
            for group in pack_pages(pending, max_points=max_points):
                points += query_points(build_scan_query(group))
                requests += 1
            following: list[OwnerPage] = []
            for page in pending:
                left = remaining[page.owner_id] - page.first
                remaining[page.owner_id] = left
                if left > 0 and page.first > 0:
                    following.append(OwnerPage(page.owner_id, page.node_id, min(100, left), "c"))
            pending = following
        longest = max(longest, rounds)
    return points, requests, longest


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A Markdown table (also readable as plain text)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:,.2f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    body = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)
    ]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in body:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[str | None]:
    """A throw-away `redis-server` on a free port (no persistence), so that nothing else
    on a shared machine (a test restarting the shared Redis) disturbs a measurement.
    Yields its base URL, or None when `redis-server` is not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = subprocess.Popen(  # noqa: ASYNC220 - set-up, before anything is measured
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}"
    try:
        for _ in range(100):
            redis = Redis.from_url(url)
            try:
                await redis.ping()
                break
            except OSError:
                await asyncio.sleep(0.05)
            except RedisError:
                await asyncio.sleep(0.05)
            finally:
                await redis.aclose()
        yield url
    finally:
        server.terminate()
        server.wait(10)
