"""Request dependencies: the app's engine and Redis, settings, and the validated query
parameters shared by the stats routes (dates, repo filter, output format).

Everything that can make a request fail with 422 is decided here, before a route
touches the database, so a streamed body never starts for a bad request.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from web.settings import WebSettings

__all__ = [
    "BIGINT_MAX",
    "DEFAULT_DAYS",
    "EngineDep",
    "GitHubId",
    "MediaDep",
    "RangeDep",
    "RedisDep",
    "SettingsDep",
    "StatsRange",
    "TodayDep",
    "get_today",
]

BIGINT_MAX = 2**63 - 1
# `date_from` defaults to 29 days before `date_to`: 30 days, both ends included.
DEFAULT_DAYS = 30
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def get_settings(request: Request) -> WebSettings:
    settings: WebSettings = request.app.state.settings
    return settings


def get_today() -> date:
    """Today in UTC; a dependency so that tests can pin it."""
    return datetime.now(UTC).date()


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]
RedisDep = Annotated[Redis, Depends(get_redis)]
SettingsDep = Annotated[WebSettings, Depends(get_settings)]
TodayDep = Annotated[date, Depends(get_today)]

GitHubId = Annotated[int, Path(ge=1, le=BIGINT_MAX, description="GitHub's numeric id.")]


def _parse_iso_date(value: Any) -> Any:
    """Only `YYYY-MM-DD`: pydantic alone would also take Unix timestamps."""
    if isinstance(value, str):
        if not _ISO_DATE.fullmatch(value):
            raise PydanticCustomError("date_format", "Input should be a date as YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise PydanticCustomError(
                "date_parsing",
                "Input should be a valid date: {error}",
                {"error": str(exc)},
            ) from None
    return value


IsoDate = Annotated[date, BeforeValidator(_parse_iso_date)]


def _invalid(field: str, message: str, value: Any) -> RequestValidationError:
    """A 422 in FastAPI's own shape, for rules that span parameters."""
    return RequestValidationError(
        [{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}]
    )


@dataclass(frozen=True, slots=True)
class StatsRange:
    date_from: date
    date_to: date


def get_stats_range(
    settings: SettingsDep,
    today: TodayDep,
    date_from: Annotated[
        IsoDate | None,
        Query(description="First day, inclusive (YYYY-MM-DD). Default: 29 days before date_to."),
    ] = None,
    date_to: Annotated[
        IsoDate | None,
        Query(description="Last day, inclusive (YYYY-MM-DD). Default: today (UTC)."),
    ] = None,
) -> StatsRange:
    """Resolve the defaults, then check `date_from <= date_to` and the maximum range."""
    end = date_to or today
    if date_from is None:
        try:
            start = end - timedelta(days=DEFAULT_DAYS - 1)
        except OverflowError:
            raise _invalid("date_to", "date_to is too early for the default range", end) from None
    else:
        start = date_from
    if start > end:
        raise _invalid("date_from", "date_from must not be after date_to", str(start))
    days = (end - start).days + 1
    if days > settings.STATS_MAX_DAYS:
        raise _invalid(
            "date_from",
            f"the range is {days} days; at most {settings.STATS_MAX_DAYS} days are served",
            str(start),
        )
    return StatsRange(start, end)


RangeDep = Annotated[StatsRange, Depends(get_stats_range)]

Media = Literal["json", "csv"]


def _prefers_csv(accept: str) -> bool:
    """Content negotiation between application/json (the default) and text/csv."""
    best: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        best[media.lower()] = max(quality, best.get(media.lower(), 0.0))
    # Wildcards and ties go to JSON, the default.
    return best.get("text/csv", 0.0) > best.get("application/json", 0.0)


def get_media(
    format: Annotated[
        Media | None,
        Query(description="Output format; overrides the Accept header (text/csv → csv)."),
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Media:
    if format is not None:
        return format
    return "csv" if accept and _prefers_csv(accept) else "json"


MediaDep = Annotated[Media, Depends(get_media)]

RepoIdFilter = Annotated[
    list[Annotated[int, Field(ge=1, le=BIGINT_MAX)]] | None,
    Query(
        alias="repo_id",
        max_length=500,
        description="Only these repositories (repeatable: ?repo_id=1&repo_id=2).",
    ),
]
