"""Property-based run over the OpenAPI document (schemathesis): no 5xx, no response that
breaks the documented schema, status or content type.

The API runs as a real uvicorn process on the test database (seeded once for this
module), so the app owns its engine and event loop as in production. Examples are
derandomized and capped per operation to keep the run to a few seconds each.
"""

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks
from sqlalchemy import text

from db.engine import create_engine
from tests.conftest import ROOT, TABLES
from tests.factories import add_owner, add_repository, add_scan_run, add_series
from web.app import create_app


async def _seed(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        for owner in (1, 2, 3):
            await add_owner(engine, id=owner, login=f"owner{owner}", tracked=owner != 3)
            await add_repository(engine, id=owner * 10, owner_id=owner)
            await add_series(
                engine, repo_id=owner * 10, owner_id=owner, start=date(2024, 1, 1), count=60
            )
        await add_scan_run(engine, day=datetime.now(UTC).date())
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def live_api(migrated_database: str) -> Iterator[str]:
    asyncio.run(_seed(migrated_database))
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "web.app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": migrated_database},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(base + "/openapi.json", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


# The document is the app's own (no I/O); the calls go to the live server.
schema = schemathesis.openapi.from_dict(create_app().openapi())

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(live_api: str, case: schemathesis.Case[Any]) -> None:
    case.call_and_validate(base_url=live_api, checks=CHECKS)
