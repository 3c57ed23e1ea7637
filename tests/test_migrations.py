"""The schema is only ever changed by a migration: the models and `alembic upgrade head`
must agree, and the migrations must run down and up again on a real database."""

import asyncio
import os
import sys
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import db.models  # noqa: F401
from tests.conftest import ROOT, TEST_DATABASE_URL, _recreate_database


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection)
    return list(compare_metadata(context, SQLModel.metadata))


class TestMigrations:
    async def test_autogenerate_finds_no_difference(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
        assert diff == []

    async def test_upgrade_downgrade_upgrade_on_an_empty_database(self) -> None:
        url = TEST_DATABASE_URL.rsplit("/", 1)[0] + "/starledger_test_migrations"
        await _recreate_database(url)
        env = os.environ | {"DATABASE_URL": url}
        for step in (["upgrade", "head"], ["downgrade", "base"], ["upgrade", "head"]):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "alembic",
                *step,
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            _, stderr = await process.communicate()
            assert process.returncode == 0, stderr.decode()

    async def test_the_database_is_at_the_single_head(self, engine: AsyncEngine) -> None:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "alembic",
            "heads",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        stdout, _ = await process.communicate()
        heads = stdout.decode().strip().splitlines()
        assert len(heads) == 1
        async with engine.connect() as connection:
            version = (
                await connection.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar()
        assert version is not None and heads[0].startswith(version)

    async def test_snapshot_index_serves_the_stats_order(self, engine: AsyncEngine) -> None:
        async with engine.connect() as connection:
            definition = (
                await connection.execute(
                    text(
                        "SELECT indexdef FROM pg_indexes"
                        " WHERE indexname = 'ix_snapshots_owner_repo_day'"
                    )
                )
            ).scalar()
        assert definition is not None
        assert (
            "(owner_id, repo_id, day) INCLUDE (stargazers, forks, watchers, scanned_at)"
            in definition
        )
