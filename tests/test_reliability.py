"""Process faults with real worker processes on the real PostgreSQL and Redis: a worker
killed with SIGKILL mid-scan, PostgreSQL restarted mid-scan, Redis restarted, two workers
and a duplicate trigger. Each must end in exactly the fake's ground truth, once."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from harvester.queue import enqueue_scan
from tests.conftest import ROOT
from tests.fakegithub import FakeGitHub, World
from tests.fakegithub.server import serve_in_thread
from tests.helpers import arq_pool, stored, today, track_in_process

TOKEN = "reliability-token"
WORKER_ENV = {
    "GITHUB_TOKENS": TOKEN,
    "BATCH_MAX_POINTS": "1",  # many small batches: a scan is many jobs
    "QUERY_MAX_POINTS": "1",
    "BATCH_TIMEOUT_S": "25",  # a killed worker's batch is retried after 25 + 10 s
    "SCAN_CONCURRENCY": "2",
    "LOG_LEVEL": "INFO",
}


class WorkerProcess:
    """`arq harvester.worker.WorkerSettings` in a subprocess, its output in a file."""

    def __init__(self, url: str, log: Path, *, burst: bool = False, **env: str) -> None:
        self.log = log
        args = [sys.executable, "-m", "arq", "harvester.worker.WorkerSettings"]
        if burst:
            args.append("--burst")
        environment = os.environ | WORKER_ENV | {"GITHUB_GRAPHQL_URL": url} | env
        self._out = log.open("ab")
        self.process = subprocess.Popen(
            args, cwd=ROOT, env=environment, stdout=self._out, stderr=subprocess.STDOUT
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def world() -> World:
    world = World(seed=13)
    for index in range(16):
        world.add_user(f"dev{index}", repos=5 + (index * 7) % 30)
    world.add_org("bigorg", repos=150)
    return world


@pytest.fixture
async def fake(db: AsyncEngine, redis: Redis, world: World) -> FakeGitHub:
    fake = FakeGitHub(world, tokens=[TOKEN])
    await track_in_process(db, redis, fake, *(o.login for o in world.owners.values()), token=TOKEN)
    fake.latency = 0.25  # slow enough to be caught mid-scan
    return fake


@pytest.fixture
def url(fake: FakeGitHub) -> Iterator[str]:
    with serve_in_thread(fake) as url:
        yield url


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


async def scalar(engine: AsyncEngine, sql: str) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql))).scalar()


async def wait_for(engine: AsyncEngine, sql: str, *, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if await scalar(engine, sql):
                return
        except Exception:  # PostgreSQL may be restarting
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {sql}")


async def enqueue(trigger: str = "manual") -> bool:
    pool = await arq_pool()
    try:
        return await enqueue_scan(pool, day=today(), trigger=trigger)
    finally:
        await pool.aclose()


async def assert_exact_day(engine: AsyncEngine, world: World) -> None:
    assert await stored(engine, today()) == world.truth()
    assert await scalar(engine, "SELECT count(*) FROM scan_runs") == 1
    assert await scalar(engine, "SELECT status FROM scan_runs") == "done"


class TestProcessFaults:
    async def test_a_worker_killed_mid_scan_is_taken_over(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        url: str,
        workers: list[WorkerProcess],
        tmp_path: Path,
    ) -> None:
        assert await enqueue()
        workers.append(WorkerProcess(url, tmp_path / "a.log"))
        await wait_for(
            db, "SELECT count(*) >= 1 FROM scan_batches WHERE status = 'done'", timeout_s=60
        )
        for _ in range(100):  # kill it while it is inside a batch job
            if await redis.keys("arq:in-progress:scan:*"):
                break
            await asyncio.sleep(0.05)
        in_progress = await redis.keys("arq:in-progress:scan:*")
        assert in_progress, "the scan finished before the worker could be killed"
        workers[0].kill()
        workers.append(WorkerProcess(url, tmp_path / "b.log"))
        await wait_for(db, "SELECT status = 'done' FROM scan_runs", timeout_s=120)
        await assert_exact_day(db, world)
        # The killed worker's batch was run again by the other worker, as a second try.
        killed = in_progress[0].decode().removeprefix("arq:in-progress:")
        assert f"{killed}:scan_batch" in workers[1].output()
        assert "try=2" in workers[1].output()

    async def test_postgresql_restarted_mid_scan(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        url: str,
        workers: list[WorkerProcess],
        tmp_path: Path,
    ) -> None:
        assert await enqueue()
        workers.append(WorkerProcess(url, tmp_path / "w.log"))
        await wait_for(
            db, "SELECT count(*) >= 1 FROM scan_batches WHERE status = 'done'", timeout_s=60
        )
        cluster = sorted(os.listdir("/etc/postgresql"))[0]
        restart = await asyncio.create_subprocess_exec(
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            cluster,
            "main",
            "restart",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await restart.wait() == 0
        await wait_for(db, "SELECT status = 'done' FROM scan_runs", timeout_s=120)
        await assert_exact_day(db, world)
        assert "retrying in" in workers[0].output()

    async def test_redis_restarted_workers_carry_on_and_the_cron_fires(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        url: str,
        workers: list[WorkerProcess],
        tmp_path: Path,
    ) -> None:
        # The daily cron is set to fire in a minute or two, after Redis has restarted.
        cron_at = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
        if (cron_at - datetime.now(UTC)).total_seconds() < 25:
            cron_at += timedelta(minutes=1)
        workers.append(WorkerProcess(url, tmp_path / "w.log", SCAN_TIME=f"{cron_at:%H:%M}"))
        await wait_for(db, "SELECT status = 'done' FROM scan_runs", timeout_s=90)  # catch-up
        await asyncio.to_thread(restart_redis)
        await asyncio.sleep(2)
        assert workers[0].process.poll() is None, workers[0].output()
        # The restarted Redis lost the queue; a new trigger is served by the same worker.
        assert await enqueue("manual")
        await wait_for(db, "SELECT count(*) = 2 FROM scan_runs WHERE status = 'done'", timeout_s=90)
        assert await stored(db, today()) == world.truth()
        deadline = time.monotonic() + 150
        while "cron trigger ignored" not in workers[0].output():
            assert time.monotonic() < deadline, workers[0].output()[-3000:]
            await asyncio.sleep(1)
        # Today was already scanned: the cron fired and rightly did not scan again.
        assert await scalar(db, "SELECT count(*) FROM scan_runs") == 2

    async def test_two_workers_and_a_duplicate_trigger_make_one_scan(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        url: str,
        workers: list[WorkerProcess],
        tmp_path: Path,
    ) -> None:
        assert await enqueue("cron")
        assert not await enqueue("cron")
        workers.extend(WorkerProcess(url, tmp_path / f"{n}.log", burst=True) for n in "ab")
        for worker in workers:
            worker.process.wait(120)
        await assert_exact_day(db, world)
        assert all("batch" in w.output() for w in workers)


def restart_redis(down_s: float = 3.0) -> None:
    """Restart the real Redis the way CI starts it (it keeps nothing on disk), after
    `down_s` without it: long enough for the workers to need a connection meanwhile."""
    subprocess.run(["redis-cli", "shutdown", "nosave"], capture_output=True, check=False)
    time.sleep(down_s)
    subprocess.run(
        [
            "redis-server",
            "--daemonize",
            "yes",
            "--bind",
            "127.0.0.1",
            "-::1",
            "--port",
            "6379",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            "/var/lib/redis",
            "--logfile",
            "/var/log/redis/ci.log",
        ],
        check=True,
        capture_output=True,
    )
    for _ in range(50):
        if subprocess.run(["redis-cli", "ping"], capture_output=True).returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("Redis did not come back")
