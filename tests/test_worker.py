"""The arq worker: settings arq really reads, cron, catch-up, and fan-out of one scan over
several real burst workers on the real Redis."""

import asyncio
import inspect
from collections.abc import Iterator
from datetime import UTC

import pytest
from arq import Worker
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from harvester.queue import enqueue_scan
from harvester.worker import WorkerSettings
from tests.fakegithub import FakeGitHub, World
from tests.fakegithub.server import serve_in_thread
from tests.helpers import (
    arq_pool,
    harvester_settings,
    run_burst_worker,
    stored,
    today,
    track_in_process,
)


@pytest.fixture
def world() -> World:
    world = World(seed=3)
    for index in range(12):
        world.add_user(f"user{index}", repos=(index * 13) % 40)
    world.add_org("huge", repos=230)
    return world


@pytest.fixture
async def fake(db: AsyncEngine, redis: Redis, world: World) -> FakeGitHub:
    fake = FakeGitHub(world, latency=0.01)
    await track_in_process(db, redis, fake, *world_logins(world))
    return fake


@pytest.fixture
def url(fake: FakeGitHub) -> Iterator[str]:
    with serve_in_thread(fake) as url:
        yield url


def world_logins(world: World) -> list[str]:
    return [o.login for o in world.owners.values()]


async def runs(engine: AsyncEngine) -> list[tuple[str, str, int]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT trigger, status, batches FROM scan_runs ORDER BY id")
        )
        return [(r[0], r[1], r[2]) for r in rows]


class TestWorkerSettings:
    def test_every_attribute_is_one_arq_worker_reads(self) -> None:
        accepted = set(inspect.signature(Worker.__init__).parameters)
        declared = {k for k in vars(WorkerSettings) if not k.startswith("_")}
        assert declared <= accepted, declared - accepted

    def test_daily_cron_at_scan_time_utc_and_unique(self) -> None:
        job, watchdog = WorkerSettings.cron_jobs
        assert job.unique and job.hour == {3} and job.minute == {0}
        assert WorkerSettings.timezone is UTC
        assert watchdog.unique and watchdog.minute == {5, 15, 25, 35, 45, 55}


class TestFanOut:
    async def test_two_workers_share_one_scan(
        self, db: AsyncEngine, redis: Redis, world: World, url: str
    ) -> None:
        settings = harvester_settings(url, BATCH_MAX_POINTS=1, QUERY_MAX_POINTS=1)
        pools = [await arq_pool(), await arq_pool()]
        assert await enqueue_scan(pools[0], day=today(), trigger="manual")
        workers = await asyncio.gather(*(run_burst_worker(settings, p, max_jobs=1) for p in pools))
        for pool in pools:
            await pool.aclose()
        assert await stored(db, today()) == world.truth()
        # The manual trigger and each worker's start-up catch-up race for the day: exactly
        # one of them creates the run, the others find it running (or done).
        ((trigger, status, batches),) = await runs(db)
        assert trigger in ("manual", "startup") and status == "done" and batches >= 3
        assert all(w.jobs_complete > 0 for w in workers)
        async with db.connect() as connection:
            attempts = (
                await connection.execute(text("SELECT array_agg(attempts) FROM scan_batches"))
            ).scalar()
        assert attempts == [1] * batches  # no batch was scanned twice

    async def test_scan_concurrency_holds_for_the_whole_worker(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub, url: str
    ) -> None:
        fake.latency = 0.05
        settings = harvester_settings(
            url, BATCH_MAX_POINTS=1, QUERY_MAX_POINTS=1, SCAN_CONCURRENCY=2
        )
        pool = await arq_pool()
        assert await enqueue_scan(pool, day=today(), trigger="manual")
        await run_burst_worker(settings, pool, max_jobs=4)  # 4 batches at once
        await pool.aclose()
        assert await stored(db, today()) == world.truth()
        assert 1 <= fake.max_in_flight <= 2

    async def test_a_repeated_trigger_is_a_no_op(
        self, db: AsyncEngine, redis: Redis, world: World, url: str
    ) -> None:
        pool = await arq_pool()
        assert await enqueue_scan(pool, day=today(), trigger="cron")
        assert not await enqueue_scan(pool, day=today(), trigger="cron")
        assert await enqueue_scan(pool, day=today(), trigger="startup")
        await run_burst_worker(harvester_settings(url), pool)
        await pool.aclose()
        # cron, the explicit "startup" trigger and the worker's own catch-up: one run.
        ((trigger, status, _),) = await runs(db)
        assert trigger in ("cron", "startup") and status == "done"
        assert await stored(db, today()) == world.truth()

    async def test_start_up_catches_up_only_when_today_has_not_run(
        self, db: AsyncEngine, redis: Redis, world: World, url: str
    ) -> None:
        pool = await arq_pool()
        await run_burst_worker(harvester_settings(url), pool)  # nothing enqueued: catch-up
        assert [(t, s) for t, s, _ in await runs(db)] == [("startup", "done")]
        await redis.flushdb()  # a restart that lost Redis: the day is still done in PostgreSQL
        await run_burst_worker(harvester_settings(url), pool)
        await pool.aclose()
        assert [(t, s) for t, s, _ in await runs(db)] == [("startup", "done")]
        assert await stored(db, today()) == world.truth()
