"""Shared fixtures: a real PostgreSQL database migrated once per session with Alembic, a
real Redis database, both emptied before each test that asks for them.

Tests get their own database (`starledger_test`) and Redis db (15) so that a developer's
data is never touched; override with TEST_DATABASE_URL / TEST_REDIS_URL.
"""

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+asyncpg://postgres@localhost:5432/starledger_test"
)
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://localhost:6379/15")
# Settings are read from the environment: point every package (and every subprocess the
# tests start) at the test services before anything reads them.
os.environ["DATABASE_URL"] = TEST_DATABASE_URL
os.environ["REDIS_URL"] = TEST_REDIS_URL
# No test may reach a real GitHub: a dummy token, and an endpoint where nothing listens
# unless a test serves its fake GitHub there.
os.environ.pop("GITHUB_TOKEN", None)
os.environ["GITHUB_TOKENS"] = "conftest-token"
os.environ["GITHUB_GRAPHQL_URL"] = "http://127.0.0.1:9/graphql"

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("snapshots", "repositories", "scan_batches", "scan_runs", "owners")


async def _recreate_database(url: str) -> None:
    parsed = make_url(url)
    admin = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        database="postgres",
    )
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{parsed.database}"')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def migrated_database() -> str:
    """The test database, created empty and migrated with `alembic upgrade head`."""
    await _recreate_database(TEST_DATABASE_URL)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alembic",
        "upgrade",
        "head",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    return TEST_DATABASE_URL


@pytest.fixture(scope="session")
async def engine(migrated_database: str) -> AsyncIterator[AsyncEngine]:
    from db.engine import create_engine

    engine = create_engine(migrated_database)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncEngine:
    """The migrated test database, emptied: every test starts from no data."""
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    """The test Redis database, flushed."""
    client = Redis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def api(db: AsyncEngine, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    """The API on the test database and Redis, "today" being the real UTC date."""
    from tests.factories import build_app

    app = build_app(db, redis, today=datetime.now(UTC).date())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client
