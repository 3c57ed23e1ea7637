"""The arq worker: `arq harvester.worker.WorkerSettings`.

- cron at SCAN_TIME (UTC) → `start_scan(today, "cron")`; at start-up the same with
  trigger "startup" (a catch-up when today's scan has not run, a resume when it was cut
  short); every 10 minutes a watchdog resumes a running scan whose batch jobs were lost
  (Redis restarted) and catches up a day whose cron was missed;
- `start_scan` plans the day into batches and enqueues one `scan_batch` job per batch,
  with deterministic ids `scan:{day}:{run}:{batch}`, so N workers share one scan and a
  duplicate trigger is a no-op;
- a batch that meets a long rate-limit wait is deferred (`Retry(defer=…)`), not slept on;
  one that loses PostgreSQL or Redis is retried with back-off. A worker killed mid-batch
  leaves its job in the queue: arq hands it to another worker once its `BATCH_TIMEOUT_S`
  has passed, and the batch's row lock died with the killed worker's connection.
"""

import asyncio
import logging
import socket
import sys
from datetime import UTC, date, datetime, time
from typing import Any, ClassVar, TypedDict

from arq import Retry, cron, func
from arq.connections import ArqRedis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import create_engine
from harvester.errors import ConfigError, RateLimitWait, ScanAlreadyRunning
from harvester.queue import batch_job_id, enqueue_scan
from harvester.queue import redis_settings as build_redis_settings
from harvester.runs import close_stale_runs, fail_batch, run_batch, start_run
from harvester.service import Harvester, configure_logging, open_harvester
from harvester.settings import HarvesterSettings, load_settings

__all__ = ["WorkerSettings", "scan_batch", "start_scan", "watchdog"]

log = logging.getLogger("harvester.worker")
MAX_INLINE_WAIT_S = 60.0
BATCH_MAX_TRIES = 50
INFRA_ERRORS = (OperationalError, DBAPIError, OSError, RedisError)


class WorkerContext(TypedDict, total=False):
    redis: ArqRedis
    job_id: str
    job_try: int
    settings: HarvesterSettings
    engine: AsyncEngine
    harvester: Harvester
    harvester_cm: Any


def _retry_later(ctx: WorkerContext, what: str, exc: BaseException) -> Retry:
    """PostgreSQL or Redis went away: try again, 5 s, 10 s, … up to 5 minutes later."""
    defer_s = min(300, 5 * 2 ** (ctx.get("job_try", 1) - 1))
    log.warning("%s: %s: %s; retrying in %d s", what, type(exc).__name__, exc, defer_s)
    return Retry(defer=defer_s)


async def start_scan(ctx: WorkerContext, day_iso: str, trigger: str) -> dict[str, Any]:
    """Plan (or resume) the scan of `day_iso` and fan it out into batch jobs."""
    day = date.fromisoformat(day_iso)
    settings = ctx["settings"]
    try:
        plan = await start_run(
            ctx["engine"], day=day, trigger=trigger, batch_max_points=settings.BATCH_MAX_POINTS
        )
        if plan is None:
            log.info("scan of %s already done; %s trigger ignored", day_iso, trigger)
            return {"day": day_iso, "status": "already done"}
        assert plan.run.id is not None
        for batch_no in plan.batches:
            await ctx["redis"].enqueue_job(
                "scan_batch",
                plan.run.id,
                batch_no,
                _job_id=batch_job_id(day, plan.run.id, batch_no),
            )
    except ScanAlreadyRunning:
        return {"day": day_iso, "status": "already running"}
    except INFRA_ERRORS as exc:
        raise _retry_later(ctx, f"start_scan {day_iso}", exc) from None
    log.info(
        "scan %d of %s (%s): %d batches enqueued", plan.run.id, day_iso, trigger, len(plan.batches)
    )
    return {
        "day": day_iso,
        "run_id": plan.run.id,
        "batches": len(plan.batches),
        "created": plan.created,
    }


async def scan_batch(ctx: WorkerContext, run_id: int, batch_no: int) -> dict[str, Any]:
    """Scan one batch. Whatever goes wrong becomes a retry (arq would otherwise drop a
    failed or timed-out job and leave the day's run open); on the last try the batch is
    closed as failed, so the run ends `partial` with the reason."""
    harvester = ctx["harvester"]
    what = f"batch {run_id}/{batch_no}"
    # Our own deadline, inside arq's: a job that arq times out is dropped, not retried.
    deadline_s = max(5.0, harvester.settings.BATCH_TIMEOUT_S - 15.0)
    deadline = asyncio.timeout(deadline_s)
    try:
        async with deadline:
            report = await run_batch(
                ctx["engine"],
                harvester.executor_for(max_inline_wait_s=MAX_INLINE_WAIT_S),
                run_id=run_id,
                batch_no=batch_no,
                max_points=harvester.settings.QUERY_MAX_POINTS,
            )
    except RateLimitWait as exc:
        log.warning("%s deferred %.0f s: %s", what, exc.wait_s, exc)
        raise Retry(defer=exc.wait_s + 1) from None
    except INFRA_ERRORS as exc:
        if deadline.expired():  # TimeoutError is an OSError, but this one is the deadline
            reason = f"not finished within {deadline_s:.0f} s (raise BATCH_TIMEOUT_S)"
        else:
            raise _retry_later(ctx, what, exc) from None
    except Exception as exc:
        log.exception("%s failed", what)
        reason = f"{type(exc).__name__}: {exc}"[:300]
    else:
        reason = ""
    if reason:
        if ctx.get("job_try", 1) < BATCH_MAX_TRIES:
            raise _retry_later(ctx, what, RuntimeError(reason)) from None
        await fail_batch(ctx["engine"], run_id=run_id, batch_no=batch_no, reason=reason)
        return {"run_id": run_id, "batch": batch_no, "status": "failed", "reason": reason}
    if report is None:
        return {"run_id": run_id, "batch": batch_no, "status": "skipped"}
    log.info(
        "batch %d/%d: %d owners, %d snapshots, %d requests, %d points (run %s)",
        run_id,
        batch_no,
        report.owners,
        report.snapshots,
        report.stats.requests,
        report.stats.points,
        report.run_status,
    )
    return {
        "run_id": run_id,
        "batch": batch_no,
        "snapshots": report.snapshots,
        "points": report.stats.points,
        "run_status": report.run_status,
    }


async def scheduled_scan(ctx: WorkerContext) -> dict[str, Any]:
    return await start_scan(ctx, datetime.now(UTC).date().isoformat(), "cron")


async def watchdog(ctx: WorkerContext) -> dict[str, Any]:
    """Close runs of past days left running, then resume today's running scan (its batch
    jobs re-enqueued under the same ids: a no-op for the ones still queued), or start it
    if SCAN_TIME has passed without one."""
    now = datetime.now(UTC)
    try:
        await close_stale_runs(ctx["engine"], today=now.date())
    except INFRA_ERRORS as exc:
        raise _retry_later(ctx, "watchdog", exc) from None
    if now.time() < ctx["settings"].scan_time:
        return {"status": "before SCAN_TIME"}
    return await start_scan(ctx, now.date().isoformat(), "watchdog")


async def startup(ctx: WorkerContext) -> None:
    # Tests pass their own settings in the worker's ctx; a deployment reads the environment.
    settings = ctx.setdefault("settings", _SETTINGS)
    configure_logging(settings.LOG_LEVEL)
    ctx["engine"] = create_engine()
    ctx["harvester_cm"] = open_harvester(settings, ctx["redis"])
    ctx["harvester"] = await ctx["harvester_cm"].__aenter__()
    # Catch up: today's scan, if it has not run, or resume it if it was cut short.
    await enqueue_scan(ctx["redis"], day=datetime.now(UTC).date(), trigger="startup")


async def shutdown(ctx: WorkerContext) -> None:
    if "harvester_cm" in ctx:
        await ctx["harvester_cm"].__aexit__(None, None, None)
    if "engine" in ctx:
        await ctx["engine"].dispose()


def _load() -> HarvesterSettings:
    """Settings checked at import: a bad one stops the worker with one clear line."""
    try:
        settings = load_settings()
        settings.require_tokens()
    except ConfigError as exc:
        sys.exit(f"starledger worker: {exc}")
    return settings


_SETTINGS = _load()
_SCAN_AT: time = _SETTINGS.scan_time


class WorkerSettings:
    # A batch's result is kept briefly: the watchdog may re-enqueue its id once it is gone
    # (claiming a finished batch is a no-op). start_scan's is kept an hour, so that a
    # repeated trigger within the hour is a no-op.
    functions: ClassVar = [start_scan, func(scan_batch, keep_result=60)]  # type: ignore[arg-type]
    cron_jobs: ClassVar = [
        cron(
            scheduled_scan,  # type: ignore[arg-type]
            hour={_SCAN_AT.hour},
            minute={_SCAN_AT.minute},
            unique=True,
        ),
        cron(watchdog, minute=set(range(5, 60, 10)), unique=True),  # type: ignore[arg-type]
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = build_redis_settings(_SETTINGS.REDIS_URL)
    timezone = UTC
    # Every job shares this timeout: arq keeps a job "in progress" for the longest timeout
    # + 10 s, so it also bounds how long a killed worker's batch waits to be retried.
    job_timeout = _SETTINGS.BATCH_TIMEOUT_S
    max_tries = BATCH_MAX_TRIES
    keep_result = 3600
    health_check_interval = 30
    # One health key per host (container), so `arq --check` in a container checks the
    # worker of that container, not whichever worker of the queue wrote last.
    health_check_key = f"arq:health-check:{socket.gethostname()}"
    max_jobs = 4
