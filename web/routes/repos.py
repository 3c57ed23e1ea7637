"""`/v1/repos/{id}/stats`: one repository's time series, whoever owned it."""

from fastapi import APIRouter, Request, Response

from db.stats import Series
from web.deps import EngineDep, GitHubId, MediaDep, RangeDep, SettingsDep
from web.routes.docs import stats_responses
from web.schemas import RepoStats
from web.series import serve_series

__all__ = ["router"]

router = APIRouter(prefix="/v1/repos", tags=["repos"])


@router.get(
    "/{id}/stats",
    response_model=RepoStats,
    responses=stats_responses(None),
    summary="A repository's daily counts",
)
async def get_repo_stats(
    request: Request,
    id: GitHubId,
    engine: EngineDep,
    settings: SettingsDep,
    stats_range: RangeDep,
    media: MediaDep,
) -> Response:
    """Same date rules and formats as `/v1/users/{id}/stats`, for one repository across
    all its owners. 404 for a repository starledger has never seen."""
    return await serve_series(
        request,
        engine,
        key="repo",
        series=Series.for_repo(id, stats_range.date_from, stats_range.date_to),
        media=media,
        max_age_s=settings.CACHE_MAX_AGE_S,
        not_found=f"repository {id} was never seen",
    )
