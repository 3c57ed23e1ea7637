"""`starledger` as a user runs it: a real subprocess, real PostgreSQL and Redis, the fake
GitHub on a loopback port. Every bad input ends in one clear line and a non-zero status,
never a traceback."""

from collections.abc import Iterator

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fakegithub import FakeGitHub, World
from tests.fakegithub.server import serve_in_thread
from tests.helpers import run_cli


@pytest.fixture
def world() -> World:
    world = World(seed=2)
    world.add_user("octo", name="Octo Cat", repos=3)
    world.add_org("octo-org", repos=2)
    return world


@pytest.fixture
def url(world: World) -> Iterator[str]:
    with serve_in_thread(FakeGitHub(world)) as url:
        yield url


async def count(engine: AsyncEngine, sql: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(sql))).scalar_one())


class TestTrackAndUntrack:
    async def test_track_is_idempotent(self, db: AsyncEngine, url: str) -> None:
        assert run_cli("track", "octo", url=url).returncode == 0
        again = run_cli("track", "OCTO", "octo", url=url)
        assert again.returncode == 0
        assert again.stdout.count("tracked octo (User") == 1
        assert await count(db, "SELECT count(*) FROM owners") == 1

    async def test_users_lists_the_tracked_owners(self, db: AsyncEngine, url: str) -> None:
        run_cli("track", "octo", "octo-org", url=url)
        users = run_cli("users", url=url)
        assert users.returncode == 0
        lines = users.stdout.splitlines()
        assert lines[0].split() == ["ID", "LOGIN", "KIND", "REPOS", "STATUS"]
        assert [line.split()[1] for line in lines[1:]] == ["octo", "octo-org"]
        assert "Organization" in lines[2] and lines[2].split()[3] == "2"

    async def test_untrack_keeps_history_and_purge_deletes_it(
        self, db: AsyncEngine, redis: Redis, url: str
    ) -> None:
        run_cli("track", "octo", "octo-org", url=url)
        assert run_cli("scan", url=url).returncode == 0
        untracked = run_cli("untrack", "octo", url=url)
        assert untracked.returncode == 0 and "untracked octo" in untracked.stdout
        assert "octo\n" not in run_cli("users", url=url).stdout.replace(" ", "")
        assert await count(db, "SELECT count(*) FROM snapshots") == 5
        purged = run_cli("untrack", "octo-org", "--purge", url=url)
        assert purged.returncode == 0 and "deleted 2 snapshots" in purged.stdout
        assert await count(db, "SELECT count(*) FROM snapshots") == 3
        assert await count(db, "SELECT count(*) FROM owners") == 1

    async def test_untrack_an_unknown_owner(self, db: AsyncEngine, url: str) -> None:
        result = run_cli("untrack", "nobody", "12345", url=url)
        assert result.returncode == 1
        assert "'nobody' is not a tracked owner" in result.stderr
        assert "'12345' is not a tracked owner" in result.stderr


class TestScanCommands:
    async def test_scan_prints_a_summary(self, db: AsyncEngine, redis: Redis, url: str) -> None:
        run_cli("track", "octo", "octo-org", url=url)
        result = run_cli("scan", url=url)
        assert result.returncode == 0, result.stderr
        summary = result.stdout.strip().splitlines()[0]
        assert ": done — 2 owners, 5 repositories, 5 snapshots, 1 requests, 1 points spent" in (
            summary
        )
        # Not a terminal: the progress bar is printed once per batch.
        assert "[" + "#" * 24 + "] 100%  2/2 owners, 5 repositories, 1 requests, 1 points" in (
            result.stderr
        )
        scans = run_cli("scans", url=url)
        assert scans.stdout.splitlines()[1].split()[2:4] == ["manual", "done"]

    async def test_scan_enqueue_needs_no_token(self, db: AsyncEngine, redis: Redis) -> None:
        result = run_cli("scan", "--enqueue", url="http://127.0.0.1:9/graphql", token="")
        assert result.returncode == 0, result.stderr
        assert "handed to the workers" in result.stdout
        again = run_cli("scan", "--enqueue", url="http://127.0.0.1:9/graphql", token="")
        assert "already handed to the workers" in again.stdout
        assert await redis.zcard("arq:queue") == 1


class TestBadInput:
    @pytest.mark.parametrize(
        ("env", "message"),
        [
            ({"GITHUB_GRAPHQL_URL": "not a url"}, "invalid setting GITHUB_GRAPHQL_URL"),
            ({"SCAN_TIME": "25:00"}, "invalid setting SCAN_TIME: Value error, must be HH:MM"),
            ({"DATABASE_URL": "mysql://root@db/x"}, "invalid setting DATABASE_URL"),
            ({"SCAN_CONCURRENCY": "many"}, "invalid setting SCAN_CONCURRENCY"),
            ({"LOG_LEVEL": "LOUD"}, "invalid setting LOG_LEVEL"),
        ],
    )
    def test_a_malformed_setting_is_one_clear_line(self, env: dict[str, str], message: str) -> None:
        result = run_cli("users", url=env.pop("GITHUB_GRAPHQL_URL", "http://x/graphql"), **env)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert message in result.stderr

    def test_a_missing_token(self) -> None:
        result = run_cli("track", "octo", url="http://x/graphql", token="", GITHUB_TOKEN="")
        assert result.returncode == 2
        assert result.stderr.strip() == (
            "starledger: no GitHub token: set GITHUB_TOKENS (or GITHUB_TOKEN) in the "
            "environment or .env"
        )

    def test_an_unreachable_database(self) -> None:
        result = run_cli(
            "users",
            url="http://x/graphql",
            DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:1/starledger",
        )
        assert result.returncode == 2
        assert result.stderr.startswith("starledger: cannot reach the database:")
        assert "Traceback" not in result.stderr

    def test_an_unmigrated_database(self) -> None:
        result = run_cli(
            "users",
            url="http://x/graphql",
            DATABASE_URL="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        )
        assert result.returncode == 2
        assert 'relation "owners" does not exist' in result.stderr
        assert "alembic upgrade head" in result.stderr

    def test_unreachable_github(self, db: AsyncEngine, redis: Redis) -> None:
        result = run_cli("track", "octo", url="http://127.0.0.1:9/graphql", GITHUB_TIMEOUT_S="2")
        assert result.returncode == 2
        assert "request to GitHub failed" in result.stderr
        assert "Traceback" not in result.stderr

    def test_a_rejected_token(self, db: AsyncEngine, redis: Redis, url: str) -> None:
        result = run_cli("track", "octo", url=url, token="wrong-token")
        assert result.returncode == 2
        assert "GitHub rejected the request (HTTP 401): bad credentials" in result.stderr

    def test_usage_errors(self) -> None:
        result = run_cli("frobnicate", url="http://x/graphql")
        assert result.returncode == 2 and "invalid choice" in result.stderr
