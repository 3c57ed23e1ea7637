"""`/healthz`: can the API answer, and is the ledger being kept?

Unhealthy (503) when PostgreSQL or Redis does not answer within `CHECK_TIMEOUT_S`, or
when the last successful scan (status `done`) is older than `SCAN_MAX_AGE_H` — a missed
day is lost for good, so a stale ledger is an outage even if every process is up.
"""

import asyncio
from datetime import UTC, datetime

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from db.stats import ScanRunRow, find_last_done_scan
from web.deps import EngineDep, RedisDep, SettingsDep
from web.schemas import Health, HealthCheck, LastScan

__all__ = ["router"]

CHECK_TIMEOUT_S = 2.0

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "Unhealthy"}},
    summary="Health",
)
async def get_health(engine: EngineDep, redis: RedisDep, settings: SettingsDep) -> JSONResponse:
    problems: list[str] = []
    last: ScanRunRow | None = None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S), engine.connect() as connection:
            last = await find_last_done_scan(connection)
        database = HealthCheck(ok=True)
    except Exception as exc:
        database = HealthCheck(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
        problems.append("database unreachable")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await redis.ping()
        redis_check = HealthCheck(ok=True)
    except Exception as exc:
        redis_check = HealthCheck(ok=False, error=f"{type(exc).__name__}: {exc}"[:200])
        problems.append("redis unreachable")

    last_scan = None
    if last is not None:
        finished = last.finished_at or last.started_at
        age_s = (datetime.now(UTC) - finished).total_seconds()
        last_scan = LastScan(id=last.id, day=last.day, finished_at=last.finished_at, age_s=age_s)
        if age_s > settings.SCAN_MAX_AGE_H * 3600:
            problems.append(f"last successful scan is {age_s / 3600:.1f} h old")
    elif database.ok:
        problems.append("no successful scan yet")

    health = Health(
        status="unhealthy" if problems else "ok",
        database=database,
        redis=redis_check,
        last_scan=last_scan,
        problems=problems,
    )
    return JSONResponse(health.model_dump(mode="json"), status_code=503 if problems else 200)
