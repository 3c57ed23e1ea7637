"""`/v1/users`: tracked owners, one owner with its repositories, an owner's time series."""

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response

from db.stats import Series, find_owner, list_owner_repositories, list_owners
from web.deps import EngineDep, GitHubId, MediaDep, RangeDep, RepoIdFilter, SettingsDep
from web.routes.docs import NOT_FOUND, STATS_RESPONSES
from web.schemas import Latest, OwnerDetail, OwnerPage, OwnerSummary, RepositoryOut, UserStats
from web.series import serve_series

__all__ = ["router"]

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("", response_model=OwnerPage, summary="Tracked owners")
async def get_users(
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    login: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Exact, case-insensitive.")
    ] = None,
    include_untracked: Annotated[bool, Query(description="Also owners no longer tracked.")] = False,
) -> OwnerPage:
    """Owners ordered by id, `limit`/`offset` paginated; `total` counts all matches."""
    async with engine.connect() as connection:
        owners, total = await list_owners(
            connection,
            limit=limit,
            offset=offset,
            login=login,
            include_untracked=include_untracked,
        )
    return OwnerPage(
        users=[OwnerSummary(**asdict(owner)) for owner in owners],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{id}", response_model=OwnerDetail, responses=NOT_FOUND, summary="One owner")
async def get_user(id: GitHubId, engine: EngineDep) -> OwnerDetail:
    """The owner (tracked or not) and the repositories it owns now, with their latest
    snapshot."""
    async with engine.connect() as connection:
        owner = await find_owner(connection, owner_id=id)
        if owner is None:
            raise HTTPException(404, f"owner {id} was never tracked")
        repositories = await list_owner_repositories(connection, owner_id=id)
    return OwnerDetail(
        user=OwnerSummary(**asdict(owner)),
        repositories=[
            RepositoryOut(
                id=repo.id,
                name=repo.name,
                name_with_owner=repo.name_with_owner,
                is_fork=repo.is_fork,
                is_archived=repo.is_archived,
                first_seen_on=repo.first_seen_on,
                last_seen_on=repo.last_seen_on,
                gone_on=repo.gone_on,
                latest=None if repo.latest is None else Latest(**asdict(repo.latest)),
            )
            for repo in repositories
        ],
    )


@router.get(
    "/{id}/stats",
    response_model=UserStats,
    responses=STATS_RESPONSES,
    summary="An owner's daily counts",
)
async def get_user_stats(
    request: Request,
    id: GitHubId,
    engine: EngineDep,
    settings: SettingsDep,
    stats_range: RangeDep,
    media: MediaDep,
    repo_ids: RepoIdFilter = None,
) -> Response:
    """Daily stargazers, forks and watchers of the owner's repositories, one item per
    repository and day that has a snapshot, ordered by `repo_id` then `date`.

    A snapshot counts for the owner the repository had *that day*: a transferred
    repository appears under each owner for its own days. Both dates are inclusive;
    `date_to` defaults to today (UTC), `date_from` to 29 days before `date_to`; at most
    `STATS_MAX_DAYS` (3660) days. 404: id never tracked (untracked owners keep their
    history). 422: malformed date, `date_from > date_to`, range too long, unknown `format`.
    """
    return await serve_series(
        request,
        engine,
        key="user",
        series=Series.for_owner(id, stats_range.date_from, stats_range.date_to, repo_ids or ()),
        media=media,
        max_age_s=settings.CACHE_MAX_AGE_S,
        not_found=f"owner {id} was never tracked",
    )
