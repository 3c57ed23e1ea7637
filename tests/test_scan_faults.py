"""Every GitHub fault ends in a complete, exact day: the stored snapshots equal the fake's
ground truth, and the scan record says what the scan went through."""

from datetime import date

import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fakegithub import FakeGitHub, World
from tests.fakegithub.faults import (
    ErrorsIn200,
    ExhaustBudget,
    Http502,
    Http504,
    NotFoundAlias,
    NullAlias,
    RateLimited,
    SecondaryLimit,
    Slow,
    operation_is,
    query_contains,
)
from tests.helpers import RecordingSleep, scan_in_process, stored, track_in_process

DAY = date(2026, 12, 1)
LOGINS = ("ann", "bo", "cy", "dee", "eve", "fin")


@pytest.fixture
def world() -> World:
    world = World(seed=11)
    for login, repos in zip(LOGINS, (3, 0, 130, 17, 1, 64), strict=True):
        world.add_user(login, repos=repos, private_repos=1)
    world.add_org("org", repos=41)
    world.sprinkle_collaborations(fraction=1.0)
    return world


@pytest.fixture
async def fake(db: AsyncEngine, redis: Redis, world: World) -> FakeGitHub:
    fake = FakeGitHub(world)
    await track_in_process(db, redis, fake, *LOGINS, "org")
    return fake


def truth(world: World) -> dict[int, tuple[int, int, int, int]]:
    return world.truth([*LOGINS, "org"])


class TestTransientFaults:
    @pytest.mark.parametrize(
        "fault",
        [
            Http502(),
            Http502(html=True),
            Http504(),
            ErrorsIn200("timedout"),
            ErrorsIn200("Something went wrong while executing your query."),
        ],
        ids=["502-json", "502-html", "504", "timedout-200", "something-went-wrong-200"],
    )
    async def test_retried_until_the_day_is_exact(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub, fault: object
    ) -> None:
        fake.faults.push(fault, fault)  # type: ignore[arg-type]
        run = await scan_in_process(db, redis, fake, day=DAY, max_points=1)
        assert await stored(db, DAY) == truth(world)
        assert run.status == "done"
        assert run.errors == 2
        assert any(r.startswith("transient:") for r in run.reasons)

    async def test_client_timeout_is_retried(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        fake.faults.push(Slow(seconds=1.5))
        run = await scan_in_process(db, redis, fake, day=DAY, timeout_s=0.5, over_http=True)
        assert await stored(db, DAY) == truth(world)
        assert run.status == "done" and run.errors == 1
        assert any("timed out" in r for r in run.reasons)

    async def test_a_query_that_keeps_failing_is_split_down_to_one_owner(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        # Every query with two or more owners fails: only single-owner queries pass.
        fake.faults.add_rule(Http502(), query_contains("o1: node"))
        run = await scan_in_process(db, redis, fake, day=DAY, max_points=20)
        assert await stored(db, DAY) == truth(world)
        assert run.status == "done"
        assert "split a failing query in halves" in run.reasons
        scans = fake.records("Scan")
        assert all("o1: node" not in (r.query or "") for r in scans if r.status == 200)

    async def test_twenty_percent_502s(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        fake.faults.add_rule(Http502(), operation_is("Scan"), rate=0.2)
        run = await scan_in_process(db, redis, fake, day=DAY, max_points=1)
        assert await stored(db, DAY) == truth(world)
        assert run.status == "done"
        assert run.errors == sum(1 for r in fake.records("Scan") if r.status == 502)

    async def test_an_owner_that_never_answers_makes_the_run_partial(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        cy = world.owner("cy")
        fake.faults.add_rule(Http502(), lambda r: cy.node_id in r.variables.values())
        run = await scan_in_process(db, redis, fake, day=DAY, max_points=1)
        expected = {k: v for k, v in truth(world).items() if v[0] != cy.database_id}
        assert await stored(db, DAY) == expected
        assert run.status == "partial"
        assert any(r.startswith("incomplete: cy") for r in run.reasons)


class TestRateLimits:
    async def test_secondary_limit_honours_retry_after(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        sleep = RecordingSleep()
        fake.faults.push(SecondaryLimit(status=403, retry_after=7))
        run = await scan_in_process(db, redis, fake, day=DAY, sleep=sleep)
        assert await stored(db, DAY) == truth(world)
        assert 7.0 in sleep.calls
        assert run.waits == 1 and run.wait_s == pytest.approx(7.0)

    async def test_429_honours_x_ratelimit_reset(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        sleep = RecordingSleep()
        fake.faults.push(SecondaryLimit(status=429, retry_after=None, reset_in=30))
        run = await scan_in_process(db, redis, fake, day=DAY, sleep=sleep)
        assert await stored(db, DAY) == truth(world)
        assert run.waits == 1 and 25 <= run.wait_s <= 31

    async def test_secondary_limit_without_headers_waits_a_minute_then_backs_off(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        sleep = RecordingSleep()
        bare = SecondaryLimit(status=403, retry_after=None)
        fake.faults.push(bare, bare)
        run = await scan_in_process(
            db, redis, fake, day=DAY, sleep=sleep, concurrency=1, max_points=100
        )
        assert await stored(db, DAY) == truth(world)
        assert [s for s in sleep.calls if s >= 60] == [60.0, 120.0]
        assert run.waits == 2

    @pytest.mark.parametrize("error_type", ["RATE_LIMITED", "RATE_LIMIT"])
    async def test_rate_limited_in_a_200_is_a_wait(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub, error_type: str
    ) -> None:
        sleep = RecordingSleep()
        fake.faults.push(RateLimited(error_type=error_type, reset_in=5))
        run = await scan_in_process(db, redis, fake, day=DAY, sleep=sleep, concurrency=1)
        assert await stored(db, DAY) == truth(world)
        assert run.status == "done"
        assert "primary rate limit reached" in run.reasons
        assert run.waits >= 1 and any(0 < s <= 6 for s in sleep.calls)

    async def test_budget_exhausted_with_a_near_reset(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        fake.faults.push(ExhaustBudget(reset_in=1.0))
        sleep = RecordingSleep(cap_s=2.0)  # really wait for the reset
        run = await scan_in_process(db, redis, fake, day=DAY, sleep=sleep, concurrency=1)
        assert await stored(db, DAY) == truth(world)
        assert run.status == "done"
        assert run.waits >= 1
        assert "waited: every token's rate limit is spent" in run.reasons

    async def test_the_token_with_most_points_left_is_used(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        fake.add_token("poor", limit=5000)
        fake.add_token("rich", limit=5000)
        assert fake.budget("poor").remaining == 5000  # opens the window
        fake.budget("poor").used = 4997
        await scan_in_process(db, redis, fake, day=DAY, tokens=["poor", "rich"], max_points=1)
        assert await stored(db, DAY) == truth(world)
        charged = fake.points_charged
        assert charged["rich"] > charged["poor"]
        assert charged["poor"] <= 3

    async def test_points_per_minute_are_capped(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        sleep = RecordingSleep()
        run = await scan_in_process(
            db, redis, fake, day=DAY, sleep=sleep, max_points=1, points_per_minute=2
        )
        assert await stored(db, DAY) == truth(world)
        assert "waited: points-per-minute budget reached" in run.reasons

    async def test_concurrency_is_bounded(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        fake.latency = 0.05
        await scan_in_process(db, redis, fake, day=DAY, max_points=1, concurrency=2)
        assert await stored(db, DAY) == truth(world)
        assert 1 <= fake.max_in_flight <= 2


class TestPartialAnswers:
    @pytest.mark.parametrize("fault_type", [NotFoundAlias, NullAlias])
    async def test_an_alias_that_vanishes_once_is_looked_up_and_scanned_again(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        fake: FakeGitHub,
        fault_type: type[NotFoundAlias] | type[NullAlias],
    ) -> None:
        fake.faults.add_rule(fault_type("o0"), operation_is("Scan"), times=1)
        run = await scan_in_process(db, redis, fake, day=DAY, max_points=100)
        assert run.status == "done"
        assert not any(r.startswith("owner gone:") for r in run.reasons)
        assert any(r.endswith("was not found, then found") for r in run.reasons)
        assert await stored(db, DAY) == truth(world)

    async def test_an_owner_that_is_really_gone_is_marked_and_the_rest_is_kept(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        dee = world.owner("dee")
        world.delete_owner(dee)
        run = await scan_in_process(db, redis, fake, day=DAY, max_points=100)
        assert run.status == "done"
        gone = [r for r in run.reasons if r.startswith("owner gone:")]
        assert gone == [f"owner gone: dee (id {dee.database_id})"]
        others = [login for login in (*LOGINS, "org") if login != "dee"]
        assert await stored(db, DAY) == world.truth(others)
