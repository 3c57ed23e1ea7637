"""`/v1/scans`: what the recent scan runs did."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from db.stats import list_missed_days, list_scan_runs
from web.deps import EngineDep, TodayDep
from web.schemas import ScanList, ScanOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/scans", tags=["scans"])


@router.get("", response_model=ScanList, summary="Recent scan runs")
async def get_scans(
    engine: EngineDep,
    today: TodayDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 30,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ScanList:
    """Most recent first (by `started_at`), with the days no scan finished."""
    async with engine.connect() as connection:
        runs = await list_scan_runs(connection, limit=limit, offset=offset)
        missed = await list_missed_days(connection, today=today)
    return ScanList(
        scans=[ScanOut(**asdict(run)) for run in runs],
        limit=limit,
        offset=offset,
        missed_days=missed,
    )
