"""The whole product, end to end: track three owners with the CLI, scan them with a real
arq worker against the fake GitHub, read them back over the API."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from harvester.queue import enqueue_scan
from tests.fakegithub import FakeGitHub, World
from tests.fakegithub.server import serve_in_thread
from tests.helpers import arq_pool, harvester_settings, run_burst_worker, run_cli, today

TOKEN = "e2e-token"


@pytest.fixture
def world() -> World:
    world = World(seed=7)
    world.add_user("alice", name="Alice Liddell", repos=12, private_repos=3)
    world.add_org("acme", name=None, repos=30, private_repos=2)
    world.add_user("bigbob", name="Big Bob", repos=250)
    world.add_user("carol", repos=5)  # never tracked
    world.sprinkle_collaborations(fraction=1.0)
    return world


@pytest.fixture
def fake(world: World) -> FakeGitHub:
    return FakeGitHub(world, tokens=[TOKEN])


@pytest.fixture
def github_url(fake: FakeGitHub) -> Iterator[str]:
    with serve_in_thread(fake) as url:
        yield url


def expected_stats(world: World, login: str) -> dict[str, Any]:
    owner = world.owner(login)
    truth = world.truth([owner])
    day = today().isoformat()
    return {
        "user": {"id": owner.database_id, "login": owner.login, "name": owner.name},
        "stats": [
            {
                "repo_id": repo_id,
                "date": day,
                "stargazers": stars,
                "forks": forks,
                "watchers": watchers,
            }
            for repo_id, (_, stars, forks, watchers) in sorted(truth.items())
        ],
    }


async def scan_with_worker(url: str) -> None:
    pool = await arq_pool()
    try:
        assert await enqueue_scan(pool, day=today(), trigger="manual")
        await run_burst_worker(harvester_settings(url, TOKEN, QUERY_MAX_POINTS=3), pool)
    finally:
        await pool.aclose()


class TestEndToEnd:
    async def test_track_scan_serve(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        fake: FakeGitHub,
        github_url: str,
        api: httpx.AsyncClient,
    ) -> None:
        tracked = run_cli("track", "alice", "acme", "bigbob", url=github_url, token=TOKEN)
        assert tracked.returncode == 0, tracked.stderr
        assert "tracked bigbob (User" in tracked.stdout
        assert "tracked acme (Organization" in tracked.stdout

        await scan_with_worker(github_url)

        for login in ("alice", "acme", "bigbob"):
            owner_id = world.owner(login).database_id
            response = await api.get(f"/v1/users/{owner_id}/stats")
            assert response.status_code == 200
            assert response.json() == expected_stats(world, login)
        assert len(expected_stats(world, "bigbob")["stats"]) == 250

        async with db.connect() as connection:
            run = (
                await connection.execute(
                    text("SELECT status, owners, snapshots, requests, points FROM scan_runs")
                )
            ).one()
        assert run.status == "done"
        assert (run.owners, run.snapshots) == (3, 12 + 30 + 250)
        assert run.requests == fake.requests - 1  # the CLI's resolve query is not a scan's
        assert run.points == sum(r.cost or 0 for r in fake.records("Scan") + fake.records("Counts"))

    async def test_same_day_rescan_updates_and_never_adds_rows(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        github_url: str,
        api: httpx.AsyncClient,
    ) -> None:
        assert run_cli("track", "alice", "acme", url=github_url, token=TOKEN).returncode == 0
        await scan_with_worker(github_url)
        repo_id = min(world.truth([world.owner("alice")]))
        world.set_counts(repo_id, stars=4242, forks=42, watchers=7)

        rescan = run_cli("scan", url=github_url, token=TOKEN)
        assert rescan.returncode == 0, rescan.stderr
        assert "42 snapshots" in rescan.stdout and "done" in rescan.stdout

        async with db.connect() as connection:
            rows = (
                await connection.execute(
                    text(
                        "SELECT count(*) AS n, count(DISTINCT (repo_id, day)) AS days"
                        " FROM snapshots"
                    )
                )
            ).one()
        assert rows.n == rows.days == 12 + 30
        alice = await api.get(f"/v1/users/{world.owner('alice').database_id}/stats")
        assert alice.json() == expected_stats(world, "alice")
        assert {
            "repo_id": repo_id,
            "date": today().isoformat(),
            "stargazers": 4242,
            "forks": 42,
            "watchers": 7,
        } in alice.json()["stats"]

    async def test_unknown_login_is_named_and_the_others_are_tracked(
        self, db: AsyncEngine, world: World, github_url: str
    ) -> None:
        result = run_cli(
            "track", "alice", "no-such-owner", "bad_login!", url=github_url, token=TOKEN
        )
        assert result.returncode == 1
        assert "unknown login 'no-such-owner'" in result.stderr
        assert "'bad_login!' is not a valid GitHub login" in result.stderr
        assert "Traceback" not in result.stderr
        users = run_cli("users", url=github_url, token=TOKEN)
        assert "alice" in users.stdout and "no-such-owner" not in users.stdout

    async def test_unknown_login_answered_with_null_and_no_error(
        self, db: AsyncEngine, fake: FakeGitHub, github_url: str
    ) -> None:
        fake.unknown_login_error = False
        result = run_cli("track", "ghost", "acme", url=github_url, token=TOKEN)
        assert result.returncode == 1
        assert "unknown login 'ghost'" in result.stderr
        assert "tracked acme" in result.stdout
