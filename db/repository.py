"""Every write (and the harvester's reads). Functions take `*, session` and never commit:
the boundary (a job, a CLI command) does. Writes are idempotent upserts, so a retried job
is always safe.
"""

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from db.models import BatchStatus, Owner, RunStatus, ScanBatch, ScanRun

__all__ = [
    "GONE_RETRY_DAYS",
    "OwnerRow",
    "RepoSnapshotRow",
    "RunConflict",
    "abandon_stale_runs",
    "claim_batch",
    "count_watcher_drops",
    "create_run",
    "finalize_run",
    "find_owners",
    "finish_batch",
    "get_run",
    "list_owners",
    "list_runs",
    "load_owners",
    "mark_owners_gone",
    "mark_repositories_gone",
    "owners_to_scan",
    "pending_batches",
    "purge_owners",
    "run_for_day",
    "untrack_owners",
    "update_scanned_owners",
    "upsert_owners",
    "upsert_snapshots",
]

# An owner GitHub no longer knows is marked gone and looked for again only when it has
# been gone for 1, 2, 4, … 256 days (it may have been suspended), then never again
# until someone tracks it anew.
GONE_RETRY_DAYS = frozenset(2**k for k in range(9))


class RunConflict(Exception):
    """Another scan of the same day is running."""


class OwnerRow(Protocol):
    """An owner as GitHub describes it (the harvester's parsed identities fit)."""

    @property
    def id(self) -> int: ...
    @property
    def node_id(self) -> str: ...
    @property
    def login(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def kind(self) -> str: ...
    @property
    def repo_count(self) -> int | None: ...


class RepoSnapshotRow(Protocol):
    """A repository as seen today, with its counts (the harvester's parsed rows fit)."""

    @property
    def id(self) -> int: ...
    @property
    def node_id(self) -> str: ...
    @property
    def owner_id(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def name_with_owner(self) -> str: ...
    @property
    def is_fork(self) -> bool: ...
    @property
    def is_archived(self) -> bool: ...
    @property
    def stargazers(self) -> int: ...
    @property
    def forks(self) -> int: ...
    @property
    def watchers(self) -> int: ...


async def upsert_owners(*, session: AsyncSession, owners: Sequence[OwnerRow]) -> None:
    """Track owners (again): identity refreshed, `gone_on` cleared, history kept."""
    if not owners:
        return
    await session.execute(
        text(
            """
            INSERT INTO owners (id, node_id, login, name, kind, repo_count, tracked)
            SELECT * , true FROM unnest(
                CAST(:ids AS BIGINT[]), CAST(:node_ids AS TEXT[]), CAST(:logins AS TEXT[]),
                CAST(:names AS TEXT[]), CAST(:kinds AS TEXT[]), CAST(:counts AS INTEGER[]))
            ON CONFLICT (id) DO UPDATE SET
                node_id = EXCLUDED.node_id, login = EXCLUDED.login, name = EXCLUDED.name,
                kind = EXCLUDED.kind,
                repo_count = COALESCE(EXCLUDED.repo_count, owners.repo_count),
                tracked = true, untracked_at = NULL, gone_on = NULL,
                tracked_at = CASE WHEN owners.tracked THEN owners.tracked_at ELSE now() END
            """
        ),
        {
            "ids": [o.id for o in owners],
            "node_ids": [o.node_id for o in owners],
            "logins": [o.login for o in owners],
            "names": [o.name for o in owners],
            "kinds": [o.kind for o in owners],
            "counts": [o.repo_count for o in owners],
        },
    )


async def find_owners(*, session: AsyncSession, refs: Iterable[str]) -> dict[str, Owner]:
    """Owners by login (case-insensitive) or numeric id, keyed by the ref given."""
    found: dict[str, Owner] = {}
    for ref in refs:
        condition = (
            col(Owner.id) == int(ref)
            if ref.isdigit()
            else func.lower(col(Owner.login)) == ref.lower()
        )
        rows = (await session.execute(select(Owner).where(condition))).scalars().all()
        if rows:
            # Two owners can have held one login in turn: the tracked one wins.
            found[ref] = sorted(rows, key=lambda o: (not o.tracked, o.gone_on is not None))[0]
    return found


async def untrack_owners(*, session: AsyncSession, ids: Sequence[int]) -> None:
    await session.execute(
        update(Owner).where(col(Owner.id).in_(ids)).values(tracked=False, untracked_at=func.now())
    )


async def purge_owners(*, session: AsyncSession, ids: Sequence[int]) -> int:
    """Delete owners with their snapshots, and repositories left without any snapshot.
    Returns the number of snapshots deleted."""
    params = {"ids": list(ids)}
    deleted = await session.execute(
        text("DELETE FROM snapshots WHERE owner_id = ANY(CAST(:ids AS BIGINT[]))"), params
    )
    await session.execute(
        text(
            """
            DELETE FROM repositories r WHERE r.owner_id = ANY(CAST(:ids AS BIGINT[]))
              AND NOT EXISTS (SELECT 1 FROM snapshots s WHERE s.repo_id = r.id)
            """
        ),
        params,
    )
    # Repositories that moved to another owner keep that owner's history.
    await session.execute(
        text(
            """
            UPDATE repositories r SET owner_id = s.owner_id
            FROM (SELECT DISTINCT ON (repo_id) repo_id, owner_id FROM snapshots
                  ORDER BY repo_id, day DESC) s
            WHERE r.id = s.repo_id AND r.owner_id = ANY(CAST(:ids AS BIGINT[]))
            """
        ),
        params,
    )
    await session.execute(text("DELETE FROM owners WHERE id = ANY(CAST(:ids AS BIGINT[]))"), params)
    return int(deleted.rowcount or 0)  # type: ignore[attr-defined]


async def list_owners(*, session: AsyncSession, include_untracked: bool = False) -> list[Owner]:
    query = select(Owner).order_by(func.lower(col(Owner.login)), col(Owner.id))
    if not include_untracked:
        query = query.where(col(Owner.tracked))
    return list((await session.execute(query)).scalars().all())


async def owners_to_scan(*, session: AsyncSession, day: date) -> list[int]:
    """Tracked owners, without those gone and not due for another look (see
    GONE_RETRY_DAYS)."""
    rows = await session.execute(
        select(col(Owner.id), col(Owner.gone_on)).where(col(Owner.tracked)).order_by(col(Owner.id))
    )
    return [
        owner_id
        for owner_id, gone_on in rows.all()
        if gone_on is None or (day - gone_on).days in GONE_RETRY_DAYS
    ]


async def load_owners(*, session: AsyncSession, ids: Sequence[int]) -> list[Owner]:
    rows = await session.execute(
        select(Owner).where(col(Owner.id).in_(ids)).order_by(col(Owner.id))
    )
    return list(rows.scalars().all())


async def upsert_snapshots(
    *, session: AsyncSession, rows: Sequence[RepoSnapshotRow], day: date
) -> int:
    """The day's repositories and snapshots in two bulk upserts. A second scan of the
    same day overwrites that day's values and never adds rows."""
    if not rows:
        return 0
    columns: dict[str, Any] = {
        "ids": [r.id for r in rows],
        "node_ids": [r.node_id for r in rows],
        "owner_ids": [r.owner_id for r in rows],
        "names": [r.name for r in rows],
        "full_names": [r.name_with_owner for r in rows],
        "forks_flags": [r.is_fork for r in rows],
        "archived": [r.is_archived for r in rows],
        "stargazers": [r.stargazers for r in rows],
        "forks": [r.forks for r in rows],
        "watchers": [r.watchers for r in rows],
        "day": day,
    }
    await session.execute(
        text(
            """
            INSERT INTO repositories (id, node_id, owner_id, name, name_with_owner, is_fork,
                                      is_archived, first_seen_on, last_seen_on)
            SELECT id, node_id, owner_id, name, full_name, is_fork, is_archived, :day, :day
            FROM unnest(CAST(:ids AS BIGINT[]), CAST(:node_ids AS TEXT[]),
                        CAST(:owner_ids AS BIGINT[]), CAST(:names AS TEXT[]),
                        CAST(:full_names AS TEXT[]), CAST(:forks_flags AS BOOLEAN[]),
                        CAST(:archived AS BOOLEAN[]))
                 AS t(id, node_id, owner_id, name, full_name, is_fork, is_archived)
            ON CONFLICT (id) DO UPDATE SET
                node_id = EXCLUDED.node_id, owner_id = EXCLUDED.owner_id,
                name = EXCLUDED.name, name_with_owner = EXCLUDED.name_with_owner,
                is_fork = EXCLUDED.is_fork, is_archived = EXCLUDED.is_archived,
                last_seen_on = GREATEST(repositories.last_seen_on, EXCLUDED.last_seen_on),
                gone_on = NULL
            """
        ),
        columns,
    )
    result = await session.execute(
        text(
            """
            INSERT INTO snapshots (repo_id, day, owner_id, stargazers, forks, watchers)
            SELECT id, :day, owner_id, stargazers, forks, watchers
            FROM unnest(CAST(:ids AS BIGINT[]), CAST(:owner_ids AS BIGINT[]),
                        CAST(:stargazers AS INTEGER[]), CAST(:forks AS INTEGER[]),
                        CAST(:watchers AS INTEGER[]))
                 AS t(id, owner_id, stargazers, forks, watchers)
            ON CONFLICT (repo_id, day) DO UPDATE SET
                owner_id = EXCLUDED.owner_id, stargazers = EXCLUDED.stargazers,
                forks = EXCLUDED.forks, watchers = EXCLUDED.watchers, scanned_at = now()
            """
        ),
        columns,
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def mark_repositories_gone(
    *, session: AsyncSession, owner_id: int, seen_ids: Sequence[int], day: date
) -> int:
    """Repositories of a completely listed owner that were not seen: deleted,
    transferred away or made private. They keep their history."""
    result = await session.execute(
        text(
            """
            UPDATE repositories SET gone_on = :day
            WHERE owner_id = :owner_id AND gone_on IS NULL AND last_seen_on < :day
              AND NOT (id = ANY(CAST(:seen AS BIGINT[])))
            """
        ),
        {"owner_id": owner_id, "seen": list(seen_ids), "day": day},
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def update_scanned_owners(
    *, session: AsyncSession, owners: Sequence[OwnerRow], day: date
) -> None:
    """Owners seen today: a rename updates login/name, a new node id is kept; the id
    and the history stay."""
    if not owners:
        return
    await session.execute(
        text(
            """
            UPDATE owners o SET node_id = t.node_id, login = t.login, name = t.name,
                repo_count = COALESCE(t.repo_count, o.repo_count),
                last_scanned_on = :day, gone_on = NULL
            FROM unnest(CAST(:ids AS BIGINT[]), CAST(:node_ids AS TEXT[]),
                        CAST(:logins AS TEXT[]), CAST(:names AS TEXT[]),
                        CAST(:counts AS INTEGER[])) AS t(id, node_id, login, name, repo_count)
            WHERE o.id = t.id
            """
        ),
        {
            "ids": [o.id for o in owners],
            "node_ids": [o.node_id for o in owners],
            "logins": [o.login for o in owners],
            "names": [o.name for o in owners],
            "counts": [o.repo_count for o in owners],
            "day": day,
        },
    )


async def mark_owners_gone(*, session: AsyncSession, ids: Sequence[int], day: date) -> None:
    if ids:
        await session.execute(
            update(Owner)
            .where(col(Owner.id).in_(ids))
            .values(gone_on=func.coalesce(col(Owner.gone_on), day))
        )


# --- scan runs -------------------------------------------------------------------------


async def create_run(
    *, session: AsyncSession, day: date, trigger: str, batches: Sequence[Sequence[int]]
) -> ScanRun:
    """A running scan of `day` with its batches. Raises RunConflict when one is running."""
    run = ScanRun(day=day, trigger=trigger, status=RunStatus.RUNNING, batches=len(batches))  # type: ignore[call-arg]
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:
        raise RunConflict(f"a scan of {day} is already running") from None
    assert run.id is not None
    for batch_no, owner_ids in enumerate(batches):
        session.add(ScanBatch(run_id=run.id, batch_no=batch_no, owner_ids=list(owner_ids)))
    await session.flush()
    return run


async def get_run(*, session: AsyncSession, run_id: int) -> ScanRun | None:
    return await session.get(ScanRun, run_id)


async def run_for_day(
    *, session: AsyncSession, day: date, statuses: Sequence[str]
) -> ScanRun | None:
    """The latest run of `day` with one of `statuses`."""
    rows = await session.execute(
        select(ScanRun)
        .where(col(ScanRun.day) == day, col(ScanRun.status).in_(statuses))
        .order_by(col(ScanRun.id).desc())
        .limit(1)
    )
    return rows.scalars().first()


async def list_runs(*, session: AsyncSession, limit: int = 20) -> list[ScanRun]:
    rows = await session.execute(select(ScanRun).order_by(col(ScanRun.id).desc()).limit(limit))
    return list(rows.scalars().all())


async def pending_batches(*, session: AsyncSession, run_id: int) -> dict[int, int]:
    """batch number → owners in it, for the batches of the run still pending."""
    rows = await session.execute(
        select(col(ScanBatch.batch_no), func.cardinality(col(ScanBatch.owner_ids)))
        .where(col(ScanBatch.run_id) == run_id, col(ScanBatch.status) == BatchStatus.PENDING)
        .order_by(col(ScanBatch.batch_no))
    )
    return {batch_no: int(owners) for batch_no, owners in rows.all()}


async def claim_batch(*, session: AsyncSession, run_id: int, batch_no: int) -> ScanBatch | None:
    """Lock a pending batch for this transaction (None when done or taken). The lock
    lasts until the boundary commits, so two workers never scan one batch at once."""
    rows = await session.execute(
        select(ScanBatch)
        .where(
            col(ScanBatch.run_id) == run_id,
            col(ScanBatch.batch_no) == batch_no,
            col(ScanBatch.status) == BatchStatus.PENDING,
        )
        .with_for_update(skip_locked=True)
    )
    batch = rows.scalars().first()
    if batch is not None:
        batch.attempts += 1
    return batch


async def finish_batch(*, session: AsyncSession, batch: ScanBatch, figures: dict[str, Any]) -> None:
    for key, value in figures.items():
        setattr(batch, key, value)
    # clock_timestamp(): now() would be the start of the transaction, i.e. the claim.
    batch.finished_at = func.clock_timestamp()  # type: ignore[assignment]
    await session.flush()


async def finalize_run(*, session: AsyncSession, run_id: int) -> ScanRun | None:
    """When no batch is pending any more, add the batches up into the run and close it:
    `done`, or `partial` when some owner or batch could not be scanned. Returns the run
    when this call closed it, else None (still running, or closed before)."""
    run = (
        (await session.execute(select(ScanRun).where(col(ScanRun.id) == run_id).with_for_update()))
        .scalars()
        .first()
    )
    if run is None or run.status != RunStatus.RUNNING:
        return None
    batches = (
        (await session.execute(select(ScanBatch).where(col(ScanBatch.run_id) == run_id)))
        .scalars()
        .all()
    )
    if any(b.status == BatchStatus.PENDING for b in batches):
        return None
    for key in ("owners", "repositories", "snapshots", "requests", "points", "waits", "errors"):
        setattr(run, key, sum(getattr(b, key) for b in batches))
    run.wait_s = round(sum(b.wait_s for b in batches), 3)
    reasons: list[str] = []
    for b in batches:
        reasons += [r for r in b.reasons if r not in reasons]
    run.reasons = reasons[:100]
    failed = any(b.status == BatchStatus.FAILED for b in batches)
    incomplete = any(r.startswith("incomplete:") for r in reasons)
    run.status = RunStatus.PARTIAL if failed or incomplete else RunStatus.DONE
    run.finished_at = func.clock_timestamp()  # type: ignore[assignment]
    await session.flush()
    return run


async def count_watcher_drops(*, session: AsyncSession, day: date) -> tuple[int, int]:
    """(repositories whose watchers fell to 0 on `day`, repositories that had watchers on
    their previous snapshot): many drops at once would mean GitHub hid the count."""
    row = (
        await session.execute(
            text(
                """
                SELECT count(*) FILTER (WHERE t.watchers = 0), count(*)
                FROM snapshots t
                JOIN LATERAL (
                    SELECT p.watchers FROM snapshots p
                    WHERE p.repo_id = t.repo_id AND p.day < t.day
                    ORDER BY p.day DESC LIMIT 1
                ) p ON true
                WHERE t.day = :day AND p.watchers > 0
                """
            ),
            {"day": day},
        )
    ).one()
    return int(row[0]), int(row[1])


async def abandon_stale_runs(*, session: AsyncSession, before: date) -> list[int]:
    """Runs of days before `before` still `running` (their day is over: what was not
    scanned then can never be): their pending batches fail with a reason. Returns the
    ids of the runs, to be finalized by the caller."""
    await session.execute(
        text(
            """
            UPDATE scan_batches b SET status = 'failed', finished_at = clock_timestamp(),
                reasons = b.reasons || '["failed: the day ended before this batch ran"]'::jsonb
            FROM scan_runs r
            WHERE b.run_id = r.id AND r.status = 'running' AND r.day < :before
              AND b.status = 'pending'
            """
        ),
        {"before": before},
    )
    stale = await session.execute(
        select(col(ScanRun.id)).where(
            col(ScanRun.status) == RunStatus.RUNNING, col(ScanRun.day) < before
        )
    )
    return sorted(i for i in stale.scalars().all() if i is not None)
