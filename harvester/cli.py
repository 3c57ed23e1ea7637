"""`starledger` — track owners, list them, scan now or hand the scan to the workers.

    starledger track torvalds github      resolve on GitHub and track (idempotent)
    starledger untrack torvalds [--purge] stop scanning; --purge deletes the history
    starledger users                      the tracked owners
    starledger scan [--enqueue]           today's scan, here (progress + summary) or by the workers
    starledger scans                      recent scan runs

Exit status: 0 on success, 1 when some input was refused (an unknown login), 2 on an
error that stopped the command (bad settings, a service unreachable).
"""

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime

from arq import create_pool
from arq.connections import RedisSettings
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from db import repository as repo
from db.engine import create_engine, open_session
from db.stats import list_missed_days
from harvester import __version__
from harvester.errors import HarvesterError
from harvester.executor import ScanStats
from harvester.progress import Progress
from harvester.queue import enqueue_scan
from harvester.runs import run_batch, start_run
from harvester.service import configure_logging, open_harvester
from harvester.settings import HarvesterSettings, load_settings
from harvester.track import track_logins

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starledger", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"starledger {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    track = sub.add_parser("track", help="resolve logins on GitHub and track them")
    track.add_argument("logins", nargs="+", metavar="LOGIN")
    untrack = sub.add_parser("untrack", help="stop scanning owners (history is kept)")
    untrack.add_argument("refs", nargs="+", metavar="LOGIN|ID")
    untrack.add_argument("--purge", action="store_true", help="also delete their history")
    users = sub.add_parser("users", help="list tracked owners")
    users.add_argument("--all", action="store_true", help="include untracked owners")
    scan = sub.add_parser("scan", help="run today's scan now")
    scan.add_argument("--enqueue", action="store_true", help="hand it to the workers instead")
    scans = sub.add_parser("scans", help="list recent scan runs")
    scans.add_argument("--limit", type=int, default=20)
    return parser


async def _track(settings: HarvesterSettings, engine: AsyncEngine, logins: list[str]) -> int:
    async with (
        Redis.from_url(settings.REDIS_URL) as redis,
        open_harvester(settings, redis) as harvester,
    ):
        executor = harvester.executor_for()(ScanStats())
        result = await track_logins(engine, executor, logins)
    for identity in result.tracked:
        repos = "?" if identity.repo_count is None else identity.repo_count
        print(
            f"tracked {identity.login} ({identity.kind}, id {identity.id}, "
            f"{repos} public repositories)"
        )
    for login in result.invalid:
        print(f"error: {login!r} is not a valid GitHub login", file=sys.stderr)
    for login in result.unknown:
        print(
            f"error: unknown login {login!r}: no such user or organization on GitHub",
            file=sys.stderr,
        )
    return 1 if result.unknown or result.invalid else 0


async def _untrack(engine: AsyncEngine, refs: list[str], purge: bool) -> int:
    async with open_session(engine) as session:
        found = await repo.find_owners(session=session, refs=refs)
        ids = sorted({o.id for o in found.values()})
        if ids:
            if purge:
                deleted = await repo.purge_owners(session=session, ids=ids)
            else:
                await repo.untrack_owners(session=session, ids=ids)
    for owner in found.values():
        print(f"{'purged' if purge else 'untracked'} {owner.login} (id {owner.id})")
    if purge and ids:
        print(f"deleted {deleted} snapshots")
    missing = [r for r in refs if r not in found]
    for ref in missing:
        print(f"error: {ref!r} is not a tracked owner", file=sys.stderr)
    return 1 if missing else 0


async def _users(engine: AsyncEngine, include_untracked: bool) -> int:
    async with open_session(engine) as session:
        owners = await repo.list_owners(session=session, include_untracked=include_untracked)
    if not owners:
        print("no tracked owners: add some with `starledger track LOGIN`")
        return 0
    print(f"{'ID':>12}  {'LOGIN':<39}  {'KIND':<12}  {'REPOS':>5}  STATUS")
    for o in owners:
        status = "tracked" if o.tracked else "untracked"
        if o.gone_on:
            status += f", gone since {o.gone_on}"
        repos = "" if o.repo_count is None else str(o.repo_count)
        print(f"{o.id:>12}  {o.login:<39}  {o.kind:<12}  {repos:>5}  {status}")
    return 0


async def _scan_here(settings: HarvesterSettings, engine: AsyncEngine, day: date) -> int:
    plan = await start_run(
        engine, day=day, trigger="manual", batch_max_points=settings.BATCH_MAX_POINTS
    )
    assert plan is not None and plan.run.id is not None
    run_id = plan.run.id
    if not plan.created:
        print(f"joining scan {run_id} of {day}, already running: {len(plan.batches)} batches left")
    progress = Progress(owners=plan.owners, stream=sys.stderr)
    async with (
        Redis.from_url(settings.REDIS_URL) as redis,
        open_harvester(settings, redis) as harvester,
    ):
        build = harvester.executor_for(on_wait=progress.on_wait)
        for batch_no in plan.batches:
            report = await run_batch(
                engine,
                build,
                run_id=run_id,
                batch_no=batch_no,
                max_points=settings.QUERY_MAX_POINTS,
                on_progress=progress.update,
            )
            if report is not None:
                # Owners of the batch that were finished (done, gone or given up on).
                progress.finish_batch(report.planned, report.repositories, report.stats)
    progress.close()
    async with open_session(engine) as session:
        run = await repo.get_run(session=session, run_id=run_id)
    assert run is not None
    print(
        f"scan {run.id} of {run.day}: {run.status} — {run.owners} owners, "
        f"{run.repositories} repositories, {run.snapshots} snapshots, {run.requests} requests, "
        f"{run.points} points spent, {run.waits} waits ({run.wait_s:.0f} s), {run.errors} errors"
    )
    for reason in run.reasons:
        print(f"  - {reason}")
    return 0 if run.status == "done" else 1


async def _scan_enqueue(settings: HarvesterSettings, day: date) -> int:
    pool = await create_pool(RedisSettings.from_dsn(settings.REDIS_URL), retry=0)
    try:
        queued = await enqueue_scan(pool, day=day, trigger="manual")
    finally:
        await pool.aclose()
    if queued:
        print(f"scan of {day} handed to the workers; follow it with `starledger scans`")
    else:
        print(f"a scan of {day} was already handed to the workers")
    return 0


async def _scans(engine: AsyncEngine, limit: int, today: date) -> int:
    async with open_session(engine) as session:
        runs = await repo.list_runs(session=session, limit=limit)
    async with engine.connect() as connection:
        missed = await list_missed_days(connection, today=today)
    if not runs:
        print("no scans yet: run `starledger scan`")
        return 0
    print(
        f"{'RUN':>5}  {'DAY':<10}  {'TRIGGER':<8}  {'STATUS':<8}  {'OWNERS':>6}  "
        f"{'SNAPSHOTS':>9}  {'REQ':>5}  {'POINTS':>6}  {'WAITS':>5}  {'ERRORS':>6}"
    )
    for r in runs:
        print(
            f"{r.id:>5}  {r.day.isoformat():<10}  {r.trigger:<8}  {r.status:<8}  {r.owners:>6}  "
            f"{r.snapshots:>9}  {r.requests:>5}  {r.points:>6}  {r.waits:>5}  {r.errors:>6}"
        )
    if missed:
        print(
            "missed days (no scan finished, no snapshots): "
            + ", ".join(d.isoformat() for d in missed)
        )
    return 0


async def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    configure_logging(settings.LOG_LEVEL if args.command == "scan" else "WARNING")
    today = datetime.now(UTC).date()
    if args.command == "scan" and args.enqueue:
        return await _scan_enqueue(settings, today)
    engine = create_engine(pool_size=2)
    try:
        if args.command == "track":
            return await _track(settings, engine, args.logins)
        if args.command == "untrack":
            return await _untrack(engine, args.refs, args.purge)
        if args.command == "users":
            return await _users(engine, args.all)
        if args.command == "scans":
            return await _scans(engine, args.limit, today)
        return await _scan_here(settings, engine, today)
    finally:
        await engine.dispose()


def _reason(exc: BaseException) -> str:
    """The driver's own message, first line only (no SQL, no parameters)."""
    reason = getattr(exc, "orig", None) or exc
    text = str(reason).strip().splitlines()
    return f"{type(reason).__name__}: {text[0] if text else ''}"


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_run(args))
    except HarvesterError as exc:
        print(f"starledger: {exc}", file=sys.stderr)
    except (OperationalError, InterfaceError, OSError) as exc:
        print(f"starledger: cannot reach the database: {_reason(exc)}", file=sys.stderr)
    except DBAPIError as exc:
        hint = (
            " (create and migrate it: `alembic upgrade head`)"
            if "does not exist" in str(exc)
            else ""
        )
        print(f"starledger: database error: {_reason(exc)}{hint}", file=sys.stderr)
    except RedisError as exc:
        print(f"starledger: cannot reach Redis: {exc}", file=sys.stderr)
    except KeyboardInterrupt:
        print(
            "starledger: interrupted; the scan can be resumed with `starledger scan`",
            file=sys.stderr,
        )
        return 130
    return 2


if __name__ == "__main__":
    logging.captureWarnings(True)
    sys.exit(main())
