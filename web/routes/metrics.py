"""`/metrics`: Prometheus text format (see `web.metrics`)."""

from fastapi import APIRouter, Request, Response

from db.stats import find_last_done_scan, list_scan_runs, summarize_scans
from web.deps import EngineDep
from web.metrics import CONTENT_TYPE, HttpMetrics, render_metrics

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def get_metrics(request: Request, engine: EngineDep) -> Response:
    async with engine.connect() as connection:
        recent = await list_scan_runs(connection, limit=1)
        last_done = await find_last_done_scan(connection)
        totals = await summarize_scans(connection)
    metrics: HttpMetrics = request.app.state.metrics
    body = render_metrics(
        metrics, last=recent[0] if recent else None, last_done=last_done, totals=totals
    )
    return Response(body, media_type=CONTENT_TYPE)
