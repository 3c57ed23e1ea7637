"""A day's scan as rows in PostgreSQL: plan it into batches, run a batch, close the run.

The same functions serve the worker (one arq job per batch, so N workers share one scan)
and `starledger scan` (every batch in this process). A batch is claimed with a row lock
held while it runs, so a duplicate job is a no-op; a worker that dies mid-batch releases
the lock with its connection and arq hands the job to another worker.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from db import repository as repo
from db.engine import open_session
from db.models import BatchStatus, RunStatus, ScanRun
from harvester.batching import PAGE_MAX
from harvester.errors import RequestRejected, ScanAlreadyRunning
from harvester.executor import Executor, ScanStats
from harvester.parse import RepoRow
from harvester.scan import OwnerOutcome, OwnerTarget, ProgressHook, scan_owners

__all__ = [
    "BatchReport",
    "Plan",
    "close_stale_runs",
    "fail_batch",
    "plan_batches",
    "run_batch",
    "start_run",
]

log = logging.getLogger(__name__)
SCHEDULED_TRIGGERS = ("cron", "startup", "watchdog")
WATCHER_ALARM_MIN = 10


@dataclass(frozen=True)
class Plan:
    run: ScanRun
    batches: list[int]  # batch numbers still pending
    created: bool
    owners: int = 0  # owners in those batches


@dataclass(frozen=True)
class BatchReport:
    run_id: int
    batch_no: int
    planned: int  # owners in the batch
    owners: int  # owners completely scanned
    repositories: int
    snapshots: int
    stats: ScanStats
    run_status: str


def estimated_units(repo_count: int | None) -> int:
    """Connection requests one owner costs (count unknown: one page at most)."""
    count = PAGE_MAX if repo_count is None else repo_count
    return 1 + count


def plan_batches(owners: list[tuple[int, int | None]], *, max_points: int) -> list[list[int]]:
    """Owners (id, last repo count), in id order, cut into batches of about `max_points`."""
    batches: list[list[int]] = []
    current: list[int] = []
    units = 0
    for owner_id, count in owners:
        cost = estimated_units(count)
        if current and units + cost > max_points * 100:
            batches.append(current)
            current, units = [], 0
        current.append(owner_id)
        units += cost
    if current:
        batches.append(current)
    return batches


async def start_run(
    engine: AsyncEngine, *, day: date, trigger: str, batch_max_points: int
) -> Plan | None:
    """Create today's run, or return the one already running (to resume it). A scheduled
    trigger (cron, start-up) does nothing when the day is already scanned."""
    async with open_session(engine) as session:
        running = await repo.run_for_day(session=session, day=day, statuses=[RunStatus.RUNNING])
        if running is not None:
            assert running.id is not None
            pending = await repo.pending_batches(session=session, run_id=running.id)
            return Plan(running, list(pending), created=False, owners=sum(pending.values()))
        if trigger in SCHEDULED_TRIGGERS:
            finished = await repo.run_for_day(
                session=session, day=day, statuses=[RunStatus.DONE, RunStatus.PARTIAL]
            )
            if finished is not None:
                return None
        owner_ids = await repo.owners_to_scan(session=session, day=day)
        owners = await repo.load_owners(session=session, ids=owner_ids)
        batches = plan_batches([(o.id, o.repo_count) for o in owners], max_points=batch_max_points)
        try:
            run = await repo.create_run(session=session, day=day, trigger=trigger, batches=batches)
        except repo.RunConflict as exc:
            raise ScanAlreadyRunning(str(exc)) from None
        assert run.id is not None
        if not batches:
            await _finalize(session, run.id)
        return Plan(run, list(range(len(batches))), created=True, owners=len(owner_ids))


def _rows(outcomes: list[OwnerOutcome]) -> list[RepoRow]:
    """Every repository once: one seen under two owners in one batch (moved mid-scan)
    would make the bulk upsert touch its row twice."""
    return list({r.id: r for o in outcomes for r in o.repos.values()}.values())


async def run_batch(
    engine: AsyncEngine,
    executor_for: Callable[[ScanStats], Executor],
    *,
    run_id: int,
    batch_no: int,
    max_points: int,
    on_progress: ProgressHook | None = None,
) -> BatchReport | None:
    """Scan one batch and write it in one transaction; None when the batch is already
    done or being scanned by someone else. Errors that retrying cannot cure (GitHub
    rejecting the token) close the batch as failed; others propagate to be retried."""
    stats = ScanStats()
    async with open_session(engine) as session:
        run = await repo.get_run(session=session, run_id=run_id)
        batch = await repo.claim_batch(session=session, run_id=run_id, batch_no=batch_no)
        if run is None or batch is None:
            return None
        owners = await repo.load_owners(session=session, ids=batch.owner_ids)
        targets = [OwnerTarget(o.id, o.node_id, o.login, o.repo_count) for o in owners]
        try:
            outcomes = await scan_owners(
                executor_for(stats), targets, max_points=max_points, on_progress=on_progress
            )
        except RequestRejected as exc:
            stats.errors += 1
            await repo.finish_batch(
                session=session,
                batch=batch,
                figures={
                    "status": BatchStatus.FAILED,
                    "reasons": [f"failed: {exc}"],
                    "requests": stats.requests,
                    "points": stats.points,
                    "errors": stats.errors,
                },
            )
            outcomes = None
        if outcomes is not None:
            written = await _write(session, run.day, outcomes, stats)
            await repo.finish_batch(
                session=session,
                batch=batch,
                figures={
                    "status": BatchStatus.DONE,
                    "owners": sum(1 for o in outcomes if o.complete),
                    "repositories": written,
                    "snapshots": written,
                    "requests": stats.requests,
                    "points": stats.points,
                    "waits": stats.waits,
                    "wait_s": round(stats.wait_s, 3),
                    "errors": stats.errors,
                    "reasons": stats.reasons,
                },
            )
        report_owners, report_repos = batch.owners, batch.repositories
    async with open_session(engine) as session:
        await _finalize(session, run_id)
        current = await repo.get_run(session=session, run_id=run_id)
    return BatchReport(
        run_id,
        batch_no,
        len(batch.owner_ids),
        report_owners,
        report_repos,
        report_repos,
        stats,
        current.status if current else RunStatus.RUNNING,
    )


async def close_stale_runs(engine: AsyncEngine, *, today: date) -> list[int]:
    """Close the runs of past days that were left running (every worker down, a crashed
    `starledger scan`): `partial`, their unscanned batches failed with the reason."""
    async with open_session(engine) as session:
        stale = await repo.abandon_stale_runs(session=session, before=today)
        for run_id in stale:
            await _finalize(session, run_id)
    if stale:
        log.warning("closed %d scan run(s) of past days left running: %s", len(stale), stale)
    return stale


async def fail_batch(engine: AsyncEngine, *, run_id: int, batch_no: int, reason: str) -> None:
    """Give up on a batch (every try failed): it is closed as failed with `reason`, so the
    run can close as `partial` instead of staying open."""
    async with open_session(engine) as session:
        batch = await repo.claim_batch(session=session, run_id=run_id, batch_no=batch_no)
        if batch is None:
            return
        await repo.finish_batch(
            session=session,
            batch=batch,
            figures={"status": BatchStatus.FAILED, "reasons": [f"failed: {reason}"]},
        )
    async with open_session(engine) as session:
        await _finalize(session, run_id)


async def _finalize(session: AsyncSession, run_id: int) -> None:
    """Close the run if no batch is pending any more, and check what it stored."""
    closed = await repo.finalize_run(session=session, run_id=run_id)
    if closed is not None:
        await _check_watchers(session, closed)


async def _check_watchers(session: AsyncSession, run: ScanRun) -> None:
    """Store what GitHub reports, but say it loudly when watcher counts collapse: it would
    mean GitHub started hiding `watchers.totalCount` from outsiders."""
    dropped, watched = await repo.count_watcher_drops(session=session, day=run.day)
    if dropped >= WATCHER_ALARM_MIN and dropped * 2 >= watched:
        message = (
            f"ALARM: watchers fell to 0 for {dropped} of {watched} repositories that had "
            "watchers: GitHub may have stopped reporting them"
        )
        log.error("scan %s of %s: %s", run.id, run.day, message)
        run.reasons = [message, *run.reasons]
        await session.flush()


async def _write(
    session: AsyncSession, day: date, outcomes: list[OwnerOutcome], stats: ScanStats
) -> int:
    rows = _rows(outcomes)
    written = await repo.upsert_snapshots(session=session, rows=rows, day=day)
    await repo.update_scanned_owners(
        session=session,
        day=day,
        owners=[
            replace(o.identity, repo_count=o.total_count)
            for o in outcomes
            if o.identity is not None and not o.missing
        ],
    )
    for outcome in outcomes:
        if outcome.complete:
            gone = await repo.mark_repositories_gone(
                session=session,
                owner_id=outcome.target.id,
                seen_ids=list(outcome.repos),
                day=day,
            )
            if gone:
                stats.note(f"repositories gone from {outcome.target.login}: {gone}")
        elif outcome.error is not None:
            stats.note(f"incomplete: {outcome.target.login}: {outcome.error}")
    missing = [o for o in outcomes if o.missing]
    await repo.mark_owners_gone(session=session, ids=[o.target.id for o in missing], day=day)
    for outcome in missing:
        stats.note(f"owner gone: {outcome.target.login} (id {outcome.target.id})")
    return written
