"""Tokens never leak: not in logs (at DEBUG, under faults), exceptions, scan records,
Redis, API responses, CLI or worker output, nor the repository. The API cannot write,
CORS is closed unless configured, and the container runs as a non-root user."""

import asyncio
import logging
import re
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ROOT
from tests.factories import build_app
from tests.fakegithub import FakeGitHub, World
from tests.fakegithub.faults import ExhaustBudget, Http502, RateLimited, SecondaryLimit
from tests.fakegithub.server import serve_in_thread
from tests.helpers import RecordingSleep, run_cli, scan_in_process, today, track_in_process
from tests.test_reliability import WorkerProcess, enqueue

TOKEN = "ghp_" + secrets.token_hex(18)
WRONG = "ghp_" + secrets.token_hex(18)


@pytest.fixture
def world() -> World:
    world = World(seed=17)
    world.add_user("keeper", repos=12)
    world.add_org("vault", repos=7)
    return world


@pytest.fixture
def fake(world: World) -> FakeGitHub:
    return FakeGitHub(world, tokens=[TOKEN])


def leaks(*texts: str) -> list[str]:
    return [t[:200] for t in texts if TOKEN in t or WRONG in t]


async def everything_stored(engine: AsyncEngine, redis: Redis) -> list[str]:
    texts: list[str] = []
    async with engine.connect() as connection:
        for table in ("owners", "repositories", "snapshots", "scan_runs", "scan_batches"):
            rows = await connection.execute(text(f"SELECT * FROM {table}"))
            texts += [repr(tuple(row)) for row in rows]
    for key in await redis.keys("*"):
        texts.append(key.decode(errors="replace"))
        kind = (await redis.type(key)).decode()
        if kind == "hash":
            texts.append(repr(await redis.hgetall(key)))  # type: ignore[misc]
        elif kind == "string":
            texts.append(repr(await redis.get(key)))
    return texts


class TestNoTokenAnywhere:
    async def test_in_process_scan_under_faults_at_debug(
        self,
        db: AsyncEngine,
        redis: Redis,
        world: World,
        fake: FakeGitHub,
        api: httpx.AsyncClient,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        for name in ("httpx", "httpcore", "gql", "gql.transport.httpx", "harvester"):
            logging.getLogger(name).setLevel(logging.DEBUG)
        await track_in_process(db, redis, fake, "keeper", "vault", token=TOKEN)
        fake.faults.push(
            Http502(),
            Http502(html=True),
            SecondaryLimit(retry_after=1),
            RateLimited(reset_in=1),
            ExhaustBudget(reset_in=0.5),
        )
        run = await scan_in_process(
            db,
            redis,
            fake,
            day=today(),
            token=TOKEN,
            sleep=RecordingSleep(cap_s=1.0),
            max_points=1,
            concurrency=1,
        )
        assert run.status == "done" and run.errors >= 4
        # A second token GitHub rejects: the batch fails, with a message but no token.
        fake.faults.clear()
        failed = await scan_in_process(db, redis, fake, day=today(), tokens=[WRONG])
        assert failed.status == "partial"
        assert any("401" in r for r in failed.reasons)

        logged = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
        assert any("HTTP 502" in m for m in logged)  # the faults were logged…
        assert any("POST http://fake/graphql" in m or "graphql" in m for m in logged)
        responses = [
            (await api.get(path)).text
            for path in ("/v1/scans", "/metrics", "/healthz", "/v1/users", "/openapi.json")
        ]
        assert leaks(*logged, *responses, *await everything_stored(db, redis)) == []

    async def test_cli_and_worker_output_at_debug(
        self, db: AsyncEngine, redis: Redis, fake: FakeGitHub, tmp_path: Path
    ) -> None:
        with serve_in_thread(fake) as url:
            track = run_cli("track", "keeper", "vault", url=url, token=TOKEN, LOG_LEVEL="DEBUG")
            assert track.returncode == 0, track.stderr
            fake.faults.push(Http502(), SecondaryLimit(retry_after=1))
            scan = run_cli("scan", url=url, token=TOKEN, LOG_LEVEL="DEBUG")
            assert scan.returncode == 0, scan.stderr
            rejected = run_cli("track", "keeper", url=url, token=WRONG, LOG_LEVEL="DEBUG")
            assert rejected.returncode == 2
            assert await enqueue("manual")
            worker = WorkerProcess(
                url, tmp_path / "worker.log", burst=True, GITHUB_TOKENS=TOKEN, LOG_LEVEL="DEBUG"
            )
            await asyncio.to_thread(worker.process.wait, 60)
            worker.stop()
        assert "DEBUG" in scan.stderr and "DEBUG" in worker.output()
        outputs = [
            track.stdout,
            track.stderr,
            scan.stdout,
            scan.stderr,
            rejected.stdout,
            rejected.stderr,
            worker.output(),
        ]
        assert leaks(*outputs) == []


class TestRepository:
    def test_no_env_file_and_no_token_is_committed(self) -> None:
        files = subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
        assert ".env" not in files
        pattern = re.compile(r"(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,}")
        offenders = [
            name
            for name in files
            if (ROOT / name).is_file() and pattern.search((ROOT / name).read_text(errors="ignore"))
        ]
        assert offenders == []

    def test_the_container_runs_as_a_non_root_user(self) -> None:
        dockerfile = (ROOT / "Dockerfile").read_text()
        final_stage = dockerfile.split("FROM ")[-1]
        users = re.findall(r"^USER\s+(\S+)", final_stage, flags=re.MULTILINE)
        assert users and users[-1] not in ("root", "0")


class TestApiSurface:
    def test_no_route_writes(self, db: AsyncEngine, redis: Redis) -> None:
        app = build_app(db, redis)
        methods = {m for r in app.routes if isinstance(r, APIRoute) for m in r.methods or ()}
        assert methods <= {"GET", "HEAD"}

    async def test_post_is_refused(self, api: httpx.AsyncClient) -> None:
        for path in ("/v1/users", "/v1/users/1/stats", "/v1/scans"):
            assert (await api.post(path, json={})).status_code == 405

    async def test_cors_is_closed_unless_configured(
        self, db: AsyncEngine, redis: Redis, api: httpx.AsyncClient
    ) -> None:
        headers = {"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        closed = await api.options("/v1/users", headers=headers)
        assert "access-control-allow-origin" not in closed.headers
        app = build_app(db, redis, CORS_ORIGINS="https://dash.example")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            allowed = await client.get("/v1/users", headers={"Origin": "https://dash.example"})
            refused = await client.get("/v1/users", headers={"Origin": "https://evil.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://dash.example"
        assert "access-control-allow-origin" not in refused.headers
