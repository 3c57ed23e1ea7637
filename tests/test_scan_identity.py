"""Identity over days: renames keep history, vanished owners and repositories are marked
gone (never deleted), transferred repositories are attributed to their owner of each day."""

from datetime import date, timedelta

import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from db.engine import open_session
from db.repository import GONE_RETRY_DAYS, owners_to_scan
from tests.fakegithub import FakeGitHub, World
from tests.helpers import scan_in_process, stored, track_in_process

DAY1 = date(2026, 11, 1)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture
def world() -> World:
    world = World(seed=5)
    world.add_user("renamer", name="Old Name", repos=4)
    world.add_user("leaver", repos=3)
    world.add_org("giver", repos=6)
    world.add_org("taker", repos=2)
    return world


@pytest.fixture
async def fake(db: AsyncEngine, redis: Redis, world: World) -> FakeGitHub:
    fake = FakeGitHub(world)
    await track_in_process(db, redis, fake, "renamer", "leaver", "giver", "taker")
    return fake


async def one(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as connection:
        return (await connection.execute(text(sql), params)).one()


class TestIdentity:
    async def test_a_renamed_owner_keeps_its_id_and_history(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        owner = world.owner("renamer")
        await scan_in_process(db, redis, fake, day=DAY1)
        world.rename_owner(owner, "new-login")
        owner.name = "New Name"
        world.advance_day()
        await scan_in_process(db, redis, fake, day=DAY2)
        row = await one(
            db, "SELECT login, name, gone_on FROM owners WHERE id = :id", id=owner.database_id
        )
        assert tuple(row) == ("new-login", "New Name", None)  # type: ignore[arg-type]
        days = await one(
            db,
            "SELECT count(DISTINCT day), count(*) FROM snapshots WHERE owner_id = :id",
            id=owner.database_id,
        )
        assert tuple(days) == (2, 8)  # type: ignore[arg-type]
        assert await stored(db, DAY2) == world.truth(["new-login", "leaver", "giver", "taker"])

    async def test_a_vanished_owner_is_marked_gone_and_looked_for_on_a_backoff(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        leaver = world.owner("leaver")
        await scan_in_process(db, redis, fake, day=DAY1)
        world.delete_owner(leaver)
        run = await scan_in_process(db, redis, fake, day=DAY2)
        assert run.status == "done"
        assert f"owner gone: leaver (id {leaver.database_id})" in run.reasons
        row = await one(
            db, "SELECT tracked, gone_on FROM owners WHERE id = :id", id=leaver.database_id
        )
        assert tuple(row) == (True, DAY2)  # type: ignore[arg-type]
        history = await one(
            db, "SELECT count(*) FROM snapshots WHERE owner_id = :id", id=leaver.database_id
        )
        assert tuple(history) == (3,)  # type: ignore[arg-type]
        async with open_session(db) as session:
            looked_for = [
                offset
                for offset in range(1, 300)
                if leaver.database_id
                in await owners_to_scan(session=session, day=DAY2 + timedelta(days=offset))
            ]
        assert looked_for == sorted(d for d in GONE_RETRY_DAYS if d < 300)

    async def test_deleted_and_private_repositories_stop_and_keep_their_history(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        giver = world.owner("giver")
        deleted, hidden, *_ = sorted(world.truth([giver]))
        await scan_in_process(db, redis, fake, day=DAY1)
        world.delete_repo(deleted)
        world.make_private(hidden)
        await scan_in_process(db, redis, fake, day=DAY2)
        rows = await stored(db, DAY2)
        assert deleted not in rows and hidden not in rows
        gone = await one(db, "SELECT count(*) FROM repositories WHERE gone_on = :day", day=DAY2)
        assert tuple(gone) == (2,)  # type: ignore[arg-type]
        history = await one(
            db, "SELECT count(*) FROM snapshots WHERE repo_id IN (:a, :b)", a=deleted, b=hidden
        )
        assert tuple(history) == (2,)  # type: ignore[arg-type]

    async def test_a_transferred_repository_belongs_to_its_owner_of_each_day(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        giver, taker = world.owner("giver"), world.owner("taker")
        moved = min(world.truth([giver]))
        await scan_in_process(db, redis, fake, day=DAY1)
        world.transfer_repo(moved, taker)
        await scan_in_process(db, redis, fake, day=DAY2)
        async with db.connect() as connection:
            owners: dict[date, int] = dict(
                (
                    await connection.execute(
                        text("SELECT day, owner_id FROM snapshots WHERE repo_id = :id"),
                        {"id": moved},
                    )
                ).all()
            )
        assert owners == {DAY1: giver.database_id, DAY2: taker.database_id}
        current = await one(
            db, "SELECT owner_id, gone_on FROM repositories WHERE id = :id", id=moved
        )
        assert tuple(current) == (taker.database_id, None)  # type: ignore[arg-type]
        assert await stored(db, DAY2) == world.truth(["renamer", "leaver", "giver", "taker"])


class TestWatchersAlarm:
    async def test_a_collapse_of_watcher_counts_is_stored_and_flagged(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        for repo_id in world.truth():
            world.set_counts(repo_id, watchers=3)
        await scan_in_process(db, redis, fake, day=DAY1)
        for repo_id in world.truth():
            world.set_counts(repo_id, watchers=0)
        run = await scan_in_process(db, redis, fake, day=DAY2)
        assert await stored(db, DAY2) == world.truth(["renamer", "leaver", "giver", "taker"])
        assert run.reasons[0].startswith("ALARM: watchers fell to 0 for 15 of 15 repositories")

    async def test_a_few_drops_are_normal(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        for repo_id in world.truth():
            world.set_counts(repo_id, watchers=3)
        await scan_in_process(db, redis, fake, day=DAY1)
        world.set_counts(min(world.truth()), watchers=0)
        run = await scan_in_process(db, redis, fake, day=DAY2)
        assert not any(r.startswith("ALARM") for r in run.reasons)


def give_new_node_id(world: World, login: str) -> str:
    """What GitHub does when a user is turned into an organization: same databaseId and
    login, another node id (the fake has no verb for it, so its index is edited)."""
    owner = world.owner(login)
    with world.lock:
        del world._by_node[owner.node_id]
        owner.node_id = owner.node_id + "x"
        world._by_node[owner.node_id] = owner
    return owner.node_id


class TestNewNodeId:
    async def test_an_owner_with_a_new_node_id_keeps_its_id_and_history(
        self, db: AsyncEngine, redis: Redis, world: World, fake: FakeGitHub
    ) -> None:
        owner = world.owner("giver")
        await scan_in_process(db, redis, fake, day=DAY1)
        new_node_id = give_new_node_id(world, "giver")
        world.advance_day()
        run = await scan_in_process(db, redis, fake, day=DAY2)
        assert run.status == "done"
        assert "owner giver has a new node id" in run.reasons
        assert not any(r.startswith("owner gone") for r in run.reasons)
        assert await stored(db, DAY2) == world.truth(["renamer", "leaver", "giver", "taker"])
        row = await one(
            db, "SELECT node_id, gone_on FROM owners WHERE id = :id", id=owner.database_id
        )
        assert tuple(row) == (new_node_id, None)  # type: ignore[arg-type]
