"""The batch job's own failure handling, awaited directly (arq would drop a job that
fails or times out, leaving the day's run open for good)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from arq import Retry
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from harvester import worker
from harvester.runs import start_run
from harvester.service import open_harvester
from tests.factories import add_owner
from tests.helpers import arq_pool, harvester_settings, today


@pytest.fixture
async def ctx(db: AsyncEngine, redis: Redis) -> AsyncIterator[dict[str, Any]]:
    await add_owner(db, id=42, login="someone")
    plan = await start_run(db, day=today(), trigger="manual", batch_max_points=100)
    assert plan is not None and plan.batches == [0]
    settings = harvester_settings("http://127.0.0.1:9/graphql", BATCH_TIMEOUT_S=10)
    async with open_harvester(settings, redis) as harvester:
        yield {"engine": db, "harvester": harvester, "job_try": 1, "run_id": plan.run.id}


async def run_status(engine: AsyncEngine) -> tuple[str, str, list[str]]:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text(
                    "SELECT r.status, b.status, b.reasons FROM scan_runs r JOIN scan_batches b"
                    " ON b.run_id = r.id"
                )
            )
        ).one()
    return row[0], row[1], row[2]


class TestScanBatchJob:
    async def test_an_unexpected_error_is_retried_then_closes_the_batch(
        self, db: AsyncEngine, ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("a bug")

        monkeypatch.setattr(worker, "run_batch", broken)
        with pytest.raises(Retry):
            await worker.scan_batch(ctx, ctx["run_id"], 0)  # type: ignore[arg-type]
        assert (await run_status(db))[:2] == ("running", "pending")

        ctx["job_try"] = worker.BATCH_MAX_TRIES
        result = await worker.scan_batch(ctx, ctx["run_id"], 0)  # type: ignore[arg-type]
        assert result["status"] == "failed"
        assert await run_status(db) == ("partial", "failed", ["failed: RuntimeError: a bug"])

    async def test_a_batch_over_its_deadline_is_retried_not_dropped(
        self, db: AsyncEngine, ctx: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        async def stuck(*args: object, **kwargs: object) -> None:
            await asyncio.sleep(60)

        monkeypatch.setattr(worker, "run_batch", stuck)
        with pytest.raises(Retry):
            await worker.scan_batch(ctx, ctx["run_id"], 0)  # type: ignore[arg-type]
        ctx["job_try"] = worker.BATCH_MAX_TRIES
        await worker.scan_batch(ctx, ctx["run_id"], 0)  # type: ignore[arg-type]
        status, batch, reasons = await run_status(db)
        assert (status, batch) == ("partial", "failed")
        assert reasons == ["failed: not finished within 5 s (raise BATCH_TIMEOUT_S)"]


class TestWatchdog:
    async def test_a_past_day_left_running_is_closed_as_partial(
        self, db: AsyncEngine, ctx: dict[str, Any]
    ) -> None:
        async with db.begin() as connection:
            await connection.execute(
                text("UPDATE scan_runs SET day = day - 1")  # yesterday's run, never finished
            )
        ctx["settings"] = ctx["harvester"].settings
        pool = await arq_pool()
        ctx["redis"] = pool
        try:
            await worker.watchdog(ctx)  # type: ignore[arg-type]
        finally:
            await pool.aclose()
        async with db.connect() as connection:
            runs = (
                await connection.execute(
                    text(
                        "SELECT r.day, r.status, b.status, b.reasons FROM scan_runs r"
                        " LEFT JOIN scan_batches b ON b.run_id = r.id ORDER BY r.id"
                    )
                )
            ).all()
        yesterday = today() - timedelta(days=1)
        assert tuple(runs[0]) == (
            yesterday,
            "partial",
            "failed",
            ["failed: the day ended before this batch ran"],
        )
        # Past SCAN_TIME with no scan today, the watchdog also started today's.
        assert [(r[0], r[1]) for r in runs[1:]] == [(today(), "running")]
