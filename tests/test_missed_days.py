"""A day the worker was down is a gap: the API shows no invented values for it, and both
`starledger scans` and `GET /v1/scans` name it as missed."""

from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fakegithub import FakeGitHub, World
from tests.helpers import run_cli, scan_in_process, today, track_in_process

D3 = today() - timedelta(days=1)
D2 = D3 - timedelta(days=1)
D1 = D2 - timedelta(days=1)


@pytest.fixture
async def scanned(db: AsyncEngine, redis: Redis) -> World:
    world = World(seed=9)
    world.add_user("solo", repos=2)
    fake = FakeGitHub(world)
    await track_in_process(db, redis, fake, "solo")
    await scan_in_process(db, redis, fake, day=D1)
    world.advance_day()
    world.advance_day()  # D2: the worker was down
    await scan_in_process(db, redis, fake, day=D3)
    return world


class TestMissedDay:
    async def test_the_api_shows_the_gap(self, scanned: World, api: httpx.AsyncClient) -> None:
        owner = scanned.owner("solo")
        response = await api.get(
            f"/v1/users/{owner.database_id}/stats",
            params={"date_from": D1.isoformat(), "date_to": D3.isoformat()},
        )
        days = sorted({item["date"] for item in response.json()["stats"]})
        assert days == [D1.isoformat(), D3.isoformat()]
        assert len(response.json()["stats"]) == 4

    async def test_get_scans_names_the_missed_day(
        self, scanned: World, api: httpx.AsyncClient
    ) -> None:
        body = (await api.get("/v1/scans")).json()
        assert body["missed_days"] == [D2.isoformat()]
        assert [s["day"] for s in body["scans"]] == [D3.isoformat(), D1.isoformat()]

    async def test_starledger_scans_names_the_missed_day(self, scanned: World) -> None:
        result = run_cli("scans", url="http://127.0.0.1:9/graphql")
        assert result.returncode == 0, result.stderr
        assert f"missed days (no scan finished, no snapshots): {D2.isoformat()}" in result.stdout
