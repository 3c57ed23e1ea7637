"""Test data written straight into the database (the API only reads it)."""

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncEngine

from db.models import Owner, Repository, ScanRun, Snapshot

__all__ = [
    "TODAY",
    "add_owner",
    "add_repository",
    "add_scan_run",
    "add_series",
    "add_snapshots",
    "build_app",
    "days",
]


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


OWNERS, REPOSITORIES, SNAPSHOTS, SCAN_RUNS = (
    _table(model) for model in (Owner, Repository, Snapshot, ScanRun)
)


def days(start: date, count: int) -> list[date]:
    return [start + timedelta(days=offset) for offset in range(count)]


async def add_owner(
    engine: AsyncEngine,
    *,
    id: int,
    login: str,
    name: str | None = None,
    kind: str = "User",
    tracked: bool = True,
) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            insert(OWNERS),
            {
                "id": id,
                "node_id": f"O_{id}",
                "login": login,
                "name": name,
                "kind": kind,
                "tracked": tracked,
            },
        )


async def add_repository(
    engine: AsyncEngine,
    *,
    id: int,
    owner_id: int,
    name: str | None = None,
    owner_login: str = "someone",
    first_seen_on: date = date(2024, 1, 1),
) -> None:
    name = name or f"repo{id}"
    async with engine.begin() as connection:
        await connection.execute(
            insert(REPOSITORIES),
            {
                "id": id,
                "node_id": f"R_{id}",
                "owner_id": owner_id,
                "name": name,
                "name_with_owner": f"{owner_login}/{name}",
                "first_seen_on": first_seen_on,
                "last_seen_on": first_seen_on,
            },
        )


async def add_snapshots(engine: AsyncEngine, rows: Iterable[dict[str, Any]]) -> None:
    """Rows with repo_id, day, owner_id, stargazers, forks, watchers (scanned_at optional)."""
    rows = list(rows)
    if rows:
        async with engine.begin() as connection:
            await connection.execute(insert(SNAPSHOTS), rows)


async def add_series(
    engine: AsyncEngine,
    *,
    repo_id: int,
    owner_id: int,
    start: date,
    count: int,
    stargazers: int = 10,
) -> list[dict[str, Any]]:
    """`count` consecutive days from `start`, counts growing by day; returns the rows."""
    rows = [
        {
            "repo_id": repo_id,
            "day": day,
            "owner_id": owner_id,
            "stargazers": stargazers + offset,
            "forks": offset,
            "watchers": 2 * offset,
        }
        for offset, day in enumerate(days(start, count))
    ]
    await add_snapshots(engine, rows)
    return rows


async def add_scan_run(
    engine: AsyncEngine,
    *,
    day: date,
    status: str = "done",
    finished_at: datetime | None = None,
    **counts: Any,
) -> None:
    finished = finished_at or datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(SCAN_RUNS),
            {
                "day": day,
                "trigger": "cron",
                "status": status,
                "started_at": finished - timedelta(minutes=5),
                "finished_at": None if status == "running" else finished,
                **counts,
            },
        )


TODAY = date(2024, 6, 30)


def build_app(engine: AsyncEngine, redis: Any, *, today: date = TODAY, **settings: Any) -> Any:
    """The API on the test database and Redis, with "today" pinned."""
    from web.app import create_app
    from web.deps import get_today
    from web.settings import WebSettings

    app = create_app(settings=WebSettings(**settings), engine=engine, redis=redis)
    app.dependency_overrides[get_today] = lambda: today
    return app
