"""Every read query the API needs, and nothing that writes.

The time series are streamed: `stream_series` runs `COPY (SELECT …) TO STDOUT`, with
PostgreSQL formatting each row (a JSON object or a CSV line), so a year of a thousand
repositories (365,000 rows) goes from the socket to the HTTP response in chunks, with
memory bounded by a small queue, and without building a Python object per row. The
owner's series is served from the `ix_snapshots_owner_repo_day` covering index alone.

Usage::

    async with engine.connect() as connection:
        series = Series.for_owner(1428904, date(2022, 6, 1), date(2022, 6, 30))
        head, summary = await describe_series(connection, series)  # None: unknown owner
        async for chunk in stream_series(connection, series, media="json"):
            ...  # b'{"repo_id":7329078,"date":"2022-06-10",…},{…}'
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = [
    "LatestCounts",
    "OwnerRow",
    "RepositoryRow",
    "ScanRunRow",
    "ScanTotals",
    "Series",
    "SeriesSummary",
    "SeriesTarget",
    "describe_series",
    "find_last_done_scan",
    "find_owner",
    "find_repository",
    "list_owner_repositories",
    "list_owners",
    "list_scan_runs",
    "ping_database",
    "stream_series",
    "summarize_scans",
]

Media = Literal["json", "csv"]
SeriesTarget = Literal["owner", "repo"]

CSV_HEADER = b"repo_id,date,stargazers,forks,watchers\n"

# One JSON object per row, built by PostgreSQL; the keys and their order are the API's.
# Only digits, letters and punctuation that COPY's text format never escapes.
_JSON_ROW = (
    """'{"repo_id":' || repo_id || ',"date":"' || to_char(day, 'YYYY-MM-DD')"""
    """ || '","stargazers":' || stargazers || ',"forks":' || forks"""
    """ || ',"watchers":' || watchers || '}'"""
)
_CSV_ROW = "repo_id, to_char(day, 'YYYY-MM-DD') AS date, stargazers, forks, watchers"


@dataclass(frozen=True, slots=True)
class OwnerRow:
    id: int
    login: str
    name: str | None
    kind: str
    tracked: bool
    repo_count: int | None
    tracked_at: datetime
    untracked_at: datetime | None
    last_scanned_on: date | None
    gone_on: date | None


@dataclass(frozen=True, slots=True)
class LatestCounts:
    date: date
    stargazers: int
    forks: int
    watchers: int


@dataclass(frozen=True, slots=True)
class RepositoryRow:
    id: int
    owner_id: int
    name: str
    name_with_owner: str
    is_fork: bool
    is_archived: bool
    first_seen_on: date
    last_seen_on: date
    gone_on: date | None
    latest: LatestCounts | None = None


@dataclass(frozen=True, slots=True)
class ScanRunRow:
    id: int
    day: date
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    owners: int
    repositories: int
    snapshots: int
    requests: int
    points: int
    waits: int
    wait_s: float
    errors: int
    reasons: list[str]


@dataclass(frozen=True, slots=True)
class ScanTotals:
    """Sums over every recorded scan run, for /metrics."""

    runs: int
    snapshots: int
    points: int
    requests: int


@dataclass(frozen=True, slots=True)
class Series:
    """Which snapshots a stats request selects: those whose `owner_id` (the owner of that
    day, so a transferred repository counts for each owner on its own days) or `repo_id`
    is `target_id`, with `date_from <= day <= date_to`, optionally only `repo_ids`."""

    target: SeriesTarget
    target_id: int
    date_from: date
    date_to: date
    repo_ids: tuple[int, ...] = field(default=())

    @classmethod
    def for_owner(
        cls, owner_id: int, date_from: date, date_to: date, repo_ids: Sequence[int] = ()
    ) -> "Series":
        return cls("owner", owner_id, date_from, date_to, tuple(sorted(set(repo_ids))))

    @classmethod
    def for_repo(cls, repo_id: int, date_from: date, date_to: date) -> "Series":
        return cls("repo", repo_id, date_from, date_to)

    def where(self) -> tuple[str, list[Any]]:
        """The `FROM … WHERE …` clause with asyncpg `$n` placeholders, and its arguments."""
        column = "owner_id" if self.target == "owner" else "repo_id"
        sql = f"FROM snapshots WHERE {column} = $1 AND day BETWEEN $2 AND $3"
        args: list[Any] = [self.target_id, self.date_from, self.date_to]
        if self.repo_ids:
            sql += " AND repo_id = ANY($4::bigint[])"
            args.append(list(self.repo_ids))
        return sql, args

    def where_literal(self) -> str:
        """The same clause with the values written in, for COPY (which takes no
        parameters; asyncpg would spend two more round trips quoting them). Safe: the
        values are ints and dates, rendered by `int()` and `isoformat()`."""
        column = "owner_id" if self.target == "owner" else "repo_id"
        sql = (
            f"FROM snapshots WHERE {column} = {int(self.target_id)}"
            f" AND day BETWEEN '{self.date_from.isoformat()}'::date"
            f" AND '{self.date_to.isoformat()}'::date"
        )
        if self.repo_ids:
            ids = ",".join(str(int(repo_id)) for repo_id in self.repo_ids)
            sql += f" AND repo_id = ANY('{{{ids}}}'::bigint[])"
        return sql


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    """What identifies a series' content without reading it: for ETag / Last-Modified."""

    rows: int
    last_scanned_at: datetime | None


async def ping_database(connection: AsyncConnection) -> None:
    await connection.execute(text("SELECT 1"))


async def find_owner(connection: AsyncConnection, *, owner_id: int) -> OwnerRow | None:
    """The owner, tracked or not: untracked owners keep their history."""
    result = await connection.execute(
        text(
            "SELECT id, login, name, kind, tracked, repo_count, tracked_at, untracked_at,"
            " last_scanned_on, gone_on FROM owners WHERE id = :id"
        ),
        {"id": owner_id},
    )
    row = result.one_or_none()
    return None if row is None else OwnerRow(*row)


async def list_owners(
    connection: AsyncConnection,
    *,
    limit: int,
    offset: int,
    login: str | None = None,
    include_untracked: bool = False,
) -> tuple[list[OwnerRow], int]:
    """A page of owners ordered by id, and how many match in all. `login` matches
    case-insensitively and exactly (served by `ix_owners_login_lower`)."""
    conditions = []
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    if not include_untracked:
        conditions.append("tracked")
    if login is not None:
        conditions.append("lower(login) = lower(:login)")
        params["login"] = login
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    result = await connection.execute(
        text(
            "SELECT id, login, name, kind, tracked, repo_count, tracked_at, untracked_at,"
            f" last_scanned_on, gone_on, count(*) OVER () FROM owners {where}"
            " ORDER BY id LIMIT :limit OFFSET :offset"
        ),
        params,
    )
    rows = result.all()
    if rows:
        return [OwnerRow(*row[:-1]) for row in rows], int(rows[0][-1])
    total = await connection.scalar(text(f"SELECT count(*) FROM owners {where}"), params)
    return [], int(total or 0)


async def list_owner_repositories(
    connection: AsyncConnection, *, owner_id: int
) -> list[RepositoryRow]:
    """The repositories the owner has now, each with its latest snapshot (if any)."""
    result = await connection.execute(
        text(
            "SELECT r.id, r.owner_id, r.name, r.name_with_owner, r.is_fork, r.is_archived,"
            " r.first_seen_on, r.last_seen_on, r.gone_on,"
            " s.day, s.stargazers, s.forks, s.watchers"
            " FROM repositories r LEFT JOIN LATERAL ("
            "   SELECT day, stargazers, forks, watchers FROM snapshots"
            "   WHERE repo_id = r.id ORDER BY day DESC LIMIT 1"
            " ) s ON true WHERE r.owner_id = :owner_id ORDER BY r.id"
        ),
        {"owner_id": owner_id},
    )
    repositories = []
    for row in result.all():
        latest = None if row[9] is None else LatestCounts(row[9], row[10], row[11], row[12])
        repositories.append(
            RepositoryRow(
                id=row[0],
                owner_id=row[1],
                name=row[2],
                name_with_owner=row[3],
                is_fork=row[4],
                is_archived=row[5],
                first_seen_on=row[6],
                last_seen_on=row[7],
                gone_on=row[8],
                latest=latest,
            )
        )
    return repositories


async def find_repository(connection: AsyncConnection, *, repo_id: int) -> RepositoryRow | None:
    result = await connection.execute(
        text(
            "SELECT id, owner_id, name, name_with_owner, is_fork, is_archived, first_seen_on,"
            " last_seen_on, gone_on FROM repositories WHERE id = :id"
        ),
        {"id": repo_id},
    )
    row = result.one_or_none()
    return None if row is None else RepositoryRow(*row)


async def list_scan_runs(
    connection: AsyncConnection, *, limit: int, offset: int = 0
) -> list[ScanRunRow]:
    """The most recent scan runs first."""
    result = await connection.execute(
        text(
            "SELECT id, day, trigger, status, started_at, finished_at, owners, repositories,"
            " snapshots, requests, points, waits, wait_s, errors, reasons FROM scan_runs"
            " ORDER BY started_at DESC, id DESC LIMIT :limit OFFSET :offset"
        ),
        {"limit": limit, "offset": offset},
    )
    return [ScanRunRow(*row) for row in result.all()]


MISSED_DAYS_WINDOW = 90


async def list_missed_days(
    connection: AsyncConnection, *, today: date, window_days: int = MISSED_DAYS_WINDOW
) -> list[date]:
    """Days before `today` (within `window_days`, from the first scan on) that no scan
    finished (done or partial): their snapshots are missing for good."""
    result = await connection.execute(
        text(
            "WITH scanned AS (SELECT DISTINCT day FROM scan_runs"
            "                 WHERE status IN ('done', 'partial')),"
            " bounds AS (SELECT GREATEST(min(day),"
            "                            CAST(:today AS DATE) - CAST(:window AS INTEGER)) AS first"
            "            FROM scanned)"
            " SELECT CAST(d AS DATE) FROM bounds,"
            " generate_series(bounds.first, CAST(:today AS DATE) - 1, interval '1 day') AS d"
            " WHERE bounds.first IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM scanned WHERE scanned.day = CAST(d AS DATE))"
            " ORDER BY 1"
        ),
        {"today": today, "window": window_days},
    )
    return [row[0] for row in result.all()]


async def find_last_done_scan(connection: AsyncConnection) -> ScanRunRow | None:
    """The last scan that finished successfully (status `done`)."""
    result = await connection.execute(
        text(
            "SELECT id, day, trigger, status, started_at, finished_at, owners, repositories,"
            " snapshots, requests, points, waits, wait_s, errors, reasons FROM scan_runs"
            " WHERE status = 'done' ORDER BY finished_at DESC NULLS LAST, id DESC LIMIT 1"
        )
    )
    row = result.one_or_none()
    return None if row is None else ScanRunRow(*row)


async def summarize_scans(connection: AsyncConnection) -> ScanTotals:
    result = await connection.execute(
        text(
            "SELECT count(*), coalesce(sum(snapshots), 0), coalesce(sum(points), 0),"
            " coalesce(sum(requests), 0) FROM scan_runs"
        )
    )
    runs, snapshots, points, requests = result.one()
    return ScanTotals(int(runs), int(snapshots), int(points), int(requests))


async def _driver(connection: AsyncConnection) -> "asyncpg.Connection[asyncpg.Record]":
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


_HEADS = {
    "owner": "SELECT o.id, o.login, o.name, s.rows, s.last FROM owners o",
    "repo": "SELECT o.id, o.owner_id, o.name_with_owner, s.rows, s.last FROM repositories o",
}


async def describe_series(
    connection: AsyncConnection, series: Series
) -> tuple[dict[str, Any], SeriesSummary] | None:
    """The series' subject (owner: id, login, name; repo: id, owner_id, name_with_owner)
    and summary, in one round trip; None when the owner / repository is unknown.

    The summary (row count, latest `scanned_at`) changes with every write that touches
    the series (a scan's upsert, a purge): with the query it makes a sound ETag.
    """
    where, args = series.where()
    driver = await _driver(connection)
    row = await driver.fetchrow(
        f"{_HEADS[series.target]}, LATERAL (SELECT count(*) AS rows,"
        f" max(scanned_at) AS last {where}) s WHERE o.id = $1",
        *args,
    )
    if row is None:
        return None
    head = {key: row[key] for key in list(row.keys())[:3]}
    return head, SeriesSummary(rows=int(row["rows"]), last_scanned_at=row["last"])


async def stream_series(
    connection: AsyncConnection, series: Series, *, media: Media, queue_chunks: int = 8
) -> AsyncIterator[bytes]:
    """The series ordered by `repo_id`, then `day`, as body chunks.

    `json`: the items of the `stats` array, comma-separated, without brackets (the
    caller writes the envelope). `csv`: header line first, one line per row.
    At most `queue_chunks` chunks (tens of KiB each) are held in memory: when the client
    reads slowly, COPY stops reading the socket and PostgreSQL waits.
    """
    row_sql = _JSON_ROW if media == "json" else _CSV_ROW
    copy_format: Literal["text", "csv"] = "text" if media == "json" else "csv"
    query = f"SELECT {row_sql} {series.where_literal()} ORDER BY repo_id, day"
    driver = await _driver(connection)
    queue: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=queue_chunks)

    async def sink(chunk: bytes) -> None:
        await queue.put(chunk)

    async def produce() -> None:
        try:
            await driver.copy_from_query(query, output=sink, format=copy_format)
        except Exception as exc:
            await queue.put(exc)
            return
        await queue.put(None)

    producer = asyncio.create_task(produce())
    finished = False
    try:
        if media == "csv":
            yield CSV_HEADER
        first, pending = True, b""
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            if media == "csv":
                yield bytes(item)  # asyncpg hands out bytearrays
                continue
            # COPY text format: one row per line. Lines become comma-separated items;
            # a line split across chunks waits for its end.
            buffer = pending + item
            cut = buffer.rfind(b"\n")
            if cut < 0:
                pending = buffer
                continue
            pending = buffer[cut + 1 :]
            items = buffer[:cut].replace(b"\n", b",")
            yield items if first else b"," + items
            first = False
        finished = True
    finally:
        if not producer.done():
            producer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await producer
        if not finished:
            # Interrupted mid-COPY (client gone): never hand the connection back.
            await connection.invalidate()
