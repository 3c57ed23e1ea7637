"""Harvest cost benchmark: GitHub rate-limit points a daily scan spends, against the floor,
the target, REST, and the naive `first: 100` plan.

    uv run python benchmarks/harvest_cost.py [--owners 1000] [--seed 1]

A heavy-tailed population (`heavy_tailed_population(1000, seed)`) is served by the fake
GitHub in process (ASGI transport, no port): every owner is tracked (`track_logins`), day 1
is scanned, the world advances a day, day 2 is scanned — with the same `start_run` /
`run_batch` the worker and the CLI use, into a database of its own
(`starledger_bench_harvest`, dropped, re-created and migrated) and Redis db 13. Points are
what the fake charged (GitHub's formula, `fake.total_points`) and what the scan runs
recorded from `rateLimit.cost`; both are printed. Day 2 is then re-scanned with other
`QUERY_MAX_POINTS` and `BATCH_MAX_POINTS`, and a day 3 with churn (new and deleted
repositories). REST and the naive plan are computed from the population; see
benchmarks/README.md, section "Harvest cost", for the method and the last results.
"""

import argparse
import asyncio
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._harvest_common import (
    GRAPHQL_POINTS_PER_HOUR,
    REST_REQUESTS_PER_HOUR,
    flush_redis,
    naive_cost,
    recreate_database,
    rest_requests,
    size_distribution,
    sized_plan_cost,
    table,
)
from db.engine import create_engine, open_session
from db.models import ScanRun
from db.repository import get_run
from harvester.budget import Budget
from harvester.executor import Executor, ScanStats
from harvester.github import GitHubClient
from harvester.runs import run_batch, start_run
from harvester.settings import HarvesterSettings
from harvester.track import track_logins
from tests.fakegithub import FakeGitHub, World, heavy_tailed_population

DB_NAME = "starledger_bench_harvest"
REDIS_DB = 13
TOKEN = "bench-cost-token"
FAKE_URL = "http://fake/graphql"
# The harvester's own defaults: day 1 and day 2 measure what a deployment runs.
DEFAULT_QUERY_MAX_POINTS: int = HarvesterSettings.model_fields["QUERY_MAX_POINTS"].default
DEFAULT_BATCH_MAX_POINTS: int = HarvesterSettings.model_fields["BATCH_MAX_POINTS"].default


@dataclass
class Measured:
    label: str
    day: date
    run: ScanRun
    fake_points: int
    fake_requests: int
    by_operation: Counter[str]
    seconds: float
    repositories: int
    owners: int
    exact: bool
    query_max_points: int
    batch_max_points: int


def public_sizes(world: World) -> dict[int, int]:
    """Owner databaseId → public repositories it owns (what a scan must store)."""
    sizes = dict.fromkeys(world.owners, 0)
    for owner_id, *_ in world.truth().values():
        sizes[owner_id] += 1
    return sizes


class ExecutorFactory:
    """What the worker's `Harvester.executor_for` builds, minus the settings object."""

    def __init__(self, github: GitHubClient, budget: Budget, concurrency: int = 4) -> None:
        self.github, self.budget, self.concurrency = github, budget, concurrency

    def __call__(self, stats: ScanStats) -> Executor:
        return Executor(self.github, self.budget, concurrency=self.concurrency, stats=stats)


async def stored(engine: AsyncEngine, day: date) -> dict[int, tuple[int, int, int, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT repo_id, owner_id, stargazers, forks, watchers FROM snapshots"
                " WHERE day = :day"
            ),
            {"day": day},
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


async def scan_day(
    label: str,
    engine: AsyncEngine,
    fake: FakeGitHub,
    factory: ExecutorFactory,
    *,
    day: date,
    query_max_points: int = DEFAULT_QUERY_MAX_POINTS,
    batch_max_points: int = DEFAULT_BATCH_MAX_POINTS,
) -> Measured:
    """One day's scan, every batch in this process (what `starledger scan` does)."""
    first_request = fake.requests
    points_before = fake.total_points
    started = time.perf_counter()
    plan = await start_run(engine, day=day, trigger="manual", batch_max_points=batch_max_points)
    assert plan is not None and plan.run.id is not None
    for batch_no in plan.batches:
        await run_batch(
            engine, factory, run_id=plan.run.id, batch_no=batch_no, max_points=query_max_points
        )
    seconds = time.perf_counter() - started
    async with open_session(engine) as session:
        run = await get_run(session=session, run_id=plan.run.id)
    assert run is not None
    records = fake.log[first_request:]
    truth = fake.world.truth()
    exact = await stored(engine, day) == truth
    return Measured(
        label,
        day,
        run,
        fake.total_points - points_before,
        len(records),
        Counter(r.operation_name or "?" for r in records),
        seconds,
        len(truth),
        len(fake.world.owners),
        exact,
        query_max_points,
        batch_max_points,
    )


def churn(world: World, seed: int) -> tuple[int, int]:
    """A day with changes: 5 % of owners get a new repository, 1 % of the owners with
    repositories lose one. Returns (added, deleted)."""
    import random

    rng = random.Random(seed)
    owners = sorted(world.owners.values(), key=lambda o: o.database_id)
    added = deleted = 0
    for owner in rng.sample(owners, max(1, len(owners) // 20)):
        world.add_repo(owner)
        added += 1
    with_repos = [o for o in owners if o.repo_ids]
    for owner in rng.sample(with_repos, max(1, len(with_repos) // 100)):
        world.delete_repo(owner.repo_ids[0])
        deleted += 1
    world.advance_day()
    return added, deleted


def per_thousand(points: float, repositories: int) -> float:
    return 1000 * points / repositories if repositories else 0.0


async def run(args: argparse.Namespace) -> int:
    wall = time.perf_counter()
    database_url = await recreate_database(DB_NAME)
    redis_url = await flush_redis(REDIS_DB)
    world = heavy_tailed_population(args.owners, seed=args.seed)
    fake = FakeGitHub(world, tokens=[TOKEN], limit=1_000_000)
    sizes = public_sizes(world)
    dist = size_distribution(list(sizes.values()))
    owners_list = sorted(
        (o.database_id, o.node_id, sizes[o.database_id]) for o in world.owners.values()
    )

    print(f"population: heavy_tailed_population({args.owners}, seed={args.seed})")
    print(
        table(
            [
                "owners",
                "public repos",
                "median",
                "p90",
                "p99",
                "max",
                "owners with 0",
                "> 100",
                "top 1 % owners hold",
            ],
            [
                [
                    dist["owners"],
                    dist["repositories"],
                    dist["median"],
                    dist["p90"],
                    dist["p99"],
                    dist["max"],
                    dist["zero"],
                    dist["over_100"],
                    f"{100 * dist['share_top_1pct']:.0f} %",
                ]
            ],
        )
    )
    private = sum(1 for r in world.repos.values() if r.is_private)
    collab = sum(len(o.collaborator_repo_ids) for o in world.owners.values())
    print(
        f"(plus {private:,} private repositories and {collab:,} collaborator links, "
        "which a scan must not store)\n"
    )

    engine = create_engine(database_url)
    redis = Redis.from_url(redis_url)
    measured: list[Measured] = []
    try:
        budget = Budget(redis, [SecretStr(TOKEN)], points_per_minute=1_000_000)
        async with GitHubClient(
            url=FAKE_URL, timeout_s=30, transport=httpx.ASGITransport(app=fake.app)
        ) as github:
            factory = ExecutorFactory(github, budget)
            logins = [o.login for o in sorted(world.owners.values(), key=lambda o: o.database_id)]
            before_requests, before_points = fake.requests, fake.total_points
            t0 = time.perf_counter()
            tracked = await track_logins(engine, factory(ScanStats()), logins)
            assert not tracked.unknown and not tracked.invalid, tracked
            track_s = time.perf_counter() - t0
            track_requests = fake.requests - before_requests
            track_points = fake.total_points - before_points

            day1 = datetime.now(UTC).date()
            day2 = day1 + timedelta(days=1)
            measured.append(await scan_day("day 1", engine, fake, factory, day=day1))
            world.advance_day()
            measured.append(await scan_day("day 2", engine, fake, factory, day=day2))
            for qmp in args.query_max_points:
                if qmp != DEFAULT_QUERY_MAX_POINTS:
                    measured.append(
                        await scan_day(
                            f"day 2 again, QUERY_MAX_POINTS={qmp}",
                            engine,
                            fake,
                            factory,
                            day=day2,
                            query_max_points=qmp,
                        )
                    )
            for bmp in args.batch_max_points:
                if bmp != DEFAULT_BATCH_MAX_POINTS:
                    measured.append(
                        await scan_day(
                            f"day 2 again, BATCH_MAX_POINTS={bmp}",
                            engine,
                            fake,
                            factory,
                            day=day2,
                            batch_max_points=bmp,
                        )
                    )
            added, deleted = churn(world, args.seed)
            measured.append(
                await scan_day(
                    f"day 3 (+{added} new, -{deleted} deleted repos)",
                    engine,
                    fake,
                    factory,
                    day=day2 + timedelta(days=1),
                )
            )
    finally:
        await engine.dispose()
        await redis.aclose()

    print(
        f"tracking {len(logins):,} owners (Resolve, 50 logins a query): "
        f"{track_requests} requests, {track_points} points, {track_s:.1f} s\n"
    )

    rows = []
    for m in measured:
        floor = (m.owners + m.repositories) / 100
        static_points = "-"
        if m.label.startswith("day 2"):
            static_points = str(
                sized_plan_cost(
                    owners_list,
                    max_points=m.query_max_points,
                    batch_max_points=m.batch_max_points,
                )[0]
            )
        rows.append(
            [
                m.label,
                m.query_max_points,
                m.batch_max_points,
                m.run.status,
                m.run.snapshots,
                "yes" if m.exact else "NO",
                m.fake_requests,
                m.run.requests,
                m.fake_points,
                m.run.points,
                static_points,
                f"{floor:.1f}",
                f"{m.fake_points / floor:.2f}",
                f"{per_thousand(m.fake_points, m.repositories):.2f}",
                " ".join(f"{k}:{v}" for k, v in sorted(m.by_operation.items())),
                f"{m.seconds:.1f}",
            ]
        )
    print("scans (points: charged by the fake / recorded by the run from rateLimit.cost)")
    print(
        table(
            [
                "scan",
                "QUERY_MAX_POINTS",
                "BATCH_MAX_POINTS",
                "status",
                "snapshots",
                "= truth",
                "requests (fake)",
                "requests (run)",
                "points (fake)",
                "points (run)",
                "points (static plan)",
                "floor (owners+repos)/100",
                "points / floor",
                "points per 1,000 repos",
                "queries by operation",
                "seconds (in process)",
            ],
            rows,
        )
    )

    d2 = measured[1]
    target = 10.5 * d2.repositories / 1000
    listing, detail = rest_requests(sizes.values())
    rest = listing + detail
    naive1 = naive_cost(owners_list, owners_per_query=1)
    naive20 = naive_cost(owners_list, owners_per_query=20)
    plan_static = sized_plan_cost(
        owners_list, max_points=DEFAULT_QUERY_MAX_POINTS, batch_max_points=DEFAULT_BATCH_MAX_POINTS
    )
    pages = sum(max(1, -(-n // 100)) for n in sizes.values())
    print(
        f"\nconnections requested by an exactly sized scan: {pages:,} repositories() pages "
        f"+ {d2.repositories:,} watchers = {pages + d2.repositories:,} "
        f"→ {(pages + d2.repositories) / 100:.2f} points before GitHub's rounding "
        "(rounding each query to the nearest point can take it below that)"
    )
    print("\nday 2 against the floor, the target, REST and the naive plan")
    print(
        table(
            [
                "approach",
                "requests",
                "budget units (points or requests)",
                "per 1,000 repos",
                "hours of one token's budget",
                "ratio to starledger",
            ],
            [
                [
                    "starledger (measured, day 2)",
                    d2.fake_requests,
                    d2.fake_points,
                    f"{per_thousand(d2.fake_points, d2.repositories):.2f}",
                    f"{d2.fake_points / GRAPHQL_POINTS_PER_HOUR:.3f}",
                    "1.00",
                ],
                [
                    "starledger, static plan (same functions, priced by the formula)",
                    plan_static[1],
                    plan_static[0],
                    f"{per_thousand(plan_static[0], d2.repositories):.2f}",
                    f"{plan_static[0] / GRAPHQL_POINTS_PER_HOUR:.3f}",
                    f"{plan_static[0] / d2.fake_points:.2f}",
                ],
                [
                    "floor (owners + repos) / 100",
                    "-",
                    f"{(d2.owners + d2.repositories) / 100:.1f}",
                    f"{per_thousand((d2.owners + d2.repositories) / 100, d2.repositories):.2f}",
                    f"{(d2.owners + d2.repositories) / 100 / GRAPHQL_POINTS_PER_HOUR:.3f}",
                    f"{(d2.owners + d2.repositories) / 100 / d2.fake_points:.2f}",
                ],
                [
                    "target ≤ 10.5 points / 1,000 repos",
                    "-",
                    f"{target:.1f}",
                    "10.50",
                    f"{target / GRAPHQL_POINTS_PER_HOUR:.3f}",
                    f"{target / d2.fake_points:.2f}",
                ],
                [
                    "naive GraphQL: first: 100 for every owner, 1 page a query",
                    naive1[1],
                    naive1[0],
                    f"{per_thousand(naive1[0], d2.repositories):.2f}",
                    f"{naive1[0] / GRAPHQL_POINTS_PER_HOUR:.3f}",
                    f"{naive1[0] / d2.fake_points:.2f}",
                ],
                [
                    "naive GraphQL: first: 100 for every owner, 20 pages a query",
                    naive20[1],
                    naive20[0],
                    f"{per_thousand(naive20[0], d2.repositories):.2f}",
                    f"{naive20[0] / GRAPHQL_POINTS_PER_HOUR:.3f}",
                    f"{naive20[0] / d2.fake_points:.2f}",
                ],
                [
                    f"REST: {listing:,} list pages + {detail:,} GET /repos/{{o}}/{{r}}",
                    rest,
                    rest,
                    f"{per_thousand(rest, d2.repositories):.2f}",
                    f"{rest / REST_REQUESTS_PER_HOUR:.3f}",
                    f"{rest / d2.fake_points:.2f}",
                ],
            ],
        )
    )
    ok_target = d2.fake_points <= target
    all_exact = all(m.exact for m in measured)
    print(
        f"\nday 2: {d2.fake_points} points for {d2.repositories:,} repositories = "
        f"{per_thousand(d2.fake_points, d2.repositories):.2f} per 1,000 "
        f"(target ≤ 10.5: {'met' if ok_target else 'MISSED'}); "
        f"every scan stored exactly the fake's truth: {'yes' if all_exact else 'NO'}; "
        f"total {time.perf_counter() - wall:.0f} s"
    )
    return 0 if ok_target and all_exact else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--owners", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--query-max-points", type=int, nargs="*", default=[1, 2, 5, 10, 20, 50, 100]
    )
    parser.add_argument("--batch-max-points", type=int, nargs="*", default=[100, 1000])
    sys.exit(asyncio.run(run(parser.parse_args())))


if __name__ == "__main__":
    main()
