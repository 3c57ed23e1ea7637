"""The async engine and sessions (asyncpg). Only boundaries (a request, a job, a CLI
command) open a session and commit; repository functions take `*, session` and flush."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from db.settings import get_database_settings


def create_engine(url: str | None = None, *, pool_size: int = 5) -> AsyncEngine:
    """Build an engine for `url` (default: `DATABASE_URL`). `pool_pre_ping` lets a
    long-lived worker survive a PostgreSQL restart between jobs."""
    return create_async_engine(
        url or get_database_settings().DATABASE_URL,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def open_session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session that commits when the block succeeds and rolls back when it raises."""
    async with create_sessionmaker(engine)() as session, session.begin():
        yield session
