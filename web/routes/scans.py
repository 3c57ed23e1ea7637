"""`/v1/scans`: what the recent scan runs did."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from db.stats import list_scan_runs
from web.deps import EngineDep
from web.schemas import ScanList, ScanOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/scans", tags=["scans"])


@router.get("", response_model=ScanList, summary="Recent scan runs")
async def get_scans(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 30,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ScanList:
    """Most recent first (by `started_at`)."""
    async with engine.connect() as connection:
        runs = await list_scan_runs(connection, limit=limit, offset=offset)
    return ScanList(scans=[ScanOut(**asdict(run)) for run in runs], limit=limit, offset=offset)
