"""Helpers for tests that drive starledger end to end: the CLI as a real subprocess and
the arq worker as a real burst `Worker` on the test Redis."""

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
from arq import Worker
from arq.connections import ArqRedis, RedisSettings, create_pool
from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import open_session
from db.models import ScanRun
from db.repository import get_run
from harvester.budget import Budget
from harvester.executor import Executor, ScanStats
from harvester.github import GitHubClient
from harvester.runs import run_batch, start_run
from harvester.settings import HarvesterSettings
from harvester.track import track_logins
from harvester.worker import WorkerSettings, shutdown, startup
from tests.conftest import ROOT, TEST_REDIS_URL
from tests.fakegithub import FakeGitHub
from tests.fakegithub.server import serve


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def today() -> date:
    return datetime.now(UTC).date()


def run_cli(*args: str, url: str, token: str = "token", **env: str) -> CliResult:
    """`starledger ARGS` in a subprocess, pointed at the fake GitHub at `url`."""
    environment = os.environ | {"GITHUB_TOKENS": token, "GITHUB_GRAPHQL_URL": url} | env
    result = subprocess.run(
        [sys.executable, "-m", "harvester.cli", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return CliResult(result.returncode, result.stdout, result.stderr)


def harvester_settings(url: str, token: str = "token", **overrides: Any) -> HarvesterSettings:
    return HarvesterSettings(
        GITHUB_TOKENS=token, GITHUB_GRAPHQL_URL=url, REDIS_URL=TEST_REDIS_URL, **overrides
    )


async def arq_pool() -> ArqRedis:
    return await create_pool(RedisSettings.from_dsn(TEST_REDIS_URL))


async def run_burst_worker(
    settings: HarvesterSettings, pool: ArqRedis, *, max_jobs: int = WorkerSettings.max_jobs
) -> Worker:
    """A real arq worker with the production functions, until the queue is empty."""
    worker = Worker(
        functions=WorkerSettings.functions,  # type: ignore[arg-type]
        on_startup=startup,  # type: ignore[arg-type]
        on_shutdown=shutdown,  # type: ignore[arg-type]
        redis_pool=pool,
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
        max_jobs=max_jobs,
        max_tries=WorkerSettings.max_tries,
        job_timeout=WorkerSettings.job_timeout,
        ctx={"settings": settings},
    )
    await worker.main()
    await worker.close()
    return worker


class RecordingSleep:
    """Stands in for asyncio.sleep in the executor: records every wait, sleeps at most
    `cap_s` of it, so that a 60 s back-off is asserted without being waited for."""

    def __init__(self, cap_s: float = 0.05) -> None:
        self.calls: list[float] = []
        self.cap_s = cap_s

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(min(seconds, self.cap_s))


async def scan_in_process(
    engine: AsyncEngine,
    redis: Redis,
    fake: FakeGitHub,
    *,
    day: date,
    token: str = "token",
    sleep: RecordingSleep | None = None,
    concurrency: int = 4,
    max_points: int = 20,
    batch_max_points: int = 100,
    timeout_s: float = 5.0,
    points_per_minute: int = 1_000_000,
    tokens: Sequence[str] | None = None,
    trigger: str = "manual",
    over_http: bool = False,
) -> ScanRun:
    """One day's scan, every batch in this process, against `fake` through its ASGI app
    (no port): the same `start_run`/`run_batch` the worker and the CLI use."""
    budget = Budget(
        redis, [SecretStr(t) for t in (tokens or [token])], points_per_minute=points_per_minute
    )
    plan = await start_run(engine, day=day, trigger=trigger, batch_max_points=batch_max_points)
    assert plan is not None and plan.run.id is not None
    async with contextlib.AsyncExitStack() as stack:
        # ASGITransport knows no timeouts: a test of them needs the fake on a real port.
        url = await stack.enter_async_context(serve(fake)) if over_http else "http://fake/graphql"
        transport = None if over_http else httpx.ASGITransport(app=fake.app)
        github = await stack.enter_async_context(
            GitHubClient(url=url, timeout_s=timeout_s, transport=transport)
        )

        def build(stats: ScanStats) -> Executor:
            return Executor(
                github,
                budget,
                concurrency=concurrency,
                stats=stats,
                backoff_s=0.01,
                sleep=sleep or RecordingSleep(),
            )

        for batch_no in plan.batches:
            await run_batch(
                engine, build, run_id=plan.run.id, batch_no=batch_no, max_points=max_points
            )
    async with open_session(engine) as session:
        run = await get_run(session=session, run_id=plan.run.id)
    assert run is not None
    return run


async def track_in_process(
    engine: AsyncEngine, redis: Redis, fake: FakeGitHub, *logins: str, token: str = "token"
) -> None:
    budget = Budget(redis, [SecretStr(token)], points_per_minute=1_000_000)
    async with GitHubClient(
        url="http://fake/graphql", timeout_s=5, transport=httpx.ASGITransport(app=fake.app)
    ) as github:
        result = await track_logins(engine, Executor(github, budget, concurrency=2), logins)
    assert not result.unknown, result.unknown


async def stored(engine: AsyncEngine, day: date) -> dict[int, tuple[int, int, int, int]]:
    """The snapshots of `day` in the shape of `World.truth()`."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT repo_id, owner_id, stargazers, forks, watchers FROM snapshots "
                "WHERE day = :day"
            ),
            {"day": day},
        )
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}
