"""Response shapes, for the OpenAPI document and for the non-streamed routes.

The stats routes stream their bodies (see `web.series`) and only use `UserStats` /
`RepoStats` to document them; the keys here are the contract in design.md.
"""

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DESIGN_EXAMPLE",
    "Health",
    "HealthCheck",
    "LastScan",
    "Latest",
    "OwnerDetail",
    "OwnerPage",
    "OwnerSummary",
    "RepoRef",
    "RepoStats",
    "RepositoryOut",
    "ScanList",
    "ScanOut",
    "StatItem",
    "UserRef",
    "UserStats",
]

DESIGN_EXAMPLE: dict[str, Any] = {
    "user": {"id": 1428904, "login": "allien", "name": "Allien Delon"},
    "stats": [
        {"repo_id": 7329078, "date": "2022-06-10", "stargazers": 42, "forks": 9, "watchers": 14},
        {"repo_id": 7329078, "date": "2022-06-11", "stargazers": 56, "forks": 10, "watchers": 15},
    ],
}


class _Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserRef(_Closed):
    id: int
    login: str
    name: str | None


class StatItem(_Closed):
    repo_id: int
    date: date
    stargazers: int
    forks: int
    watchers: int


class UserStats(_Closed):
    model_config = ConfigDict(json_schema_extra={"examples": [DESIGN_EXAMPLE]})

    user: UserRef
    stats: list[StatItem]


class RepoRef(_Closed):
    id: int
    owner_id: int
    name_with_owner: str


class RepoStats(_Closed):
    repo: RepoRef
    stats: list[StatItem]


class OwnerSummary(_Closed):
    id: int
    login: str
    name: str | None
    kind: str
    tracked: bool
    repo_count: int | None
    tracked_at: datetime
    untracked_at: datetime | None
    last_scanned_on: date | None
    gone_on: date | None


class OwnerPage(_Closed):
    users: list[OwnerSummary]
    total: int
    limit: int
    offset: int


class Latest(_Closed):
    date: date
    stargazers: int
    forks: int
    watchers: int


class RepositoryOut(_Closed):
    id: int
    name: str
    name_with_owner: str
    is_fork: bool
    is_archived: bool
    first_seen_on: date
    last_seen_on: date
    gone_on: date | None
    latest: Latest | None


class OwnerDetail(_Closed):
    user: OwnerSummary
    repositories: list[RepositoryOut]


class ScanOut(_Closed):
    id: int
    day: date
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    owners: int
    repositories: int
    snapshots: int
    requests: int
    points: int
    waits: int
    wait_s: float
    errors: int
    reasons: list[str]


class ScanList(_Closed):
    scans: list[ScanOut]
    limit: int
    offset: int
    missed_days: list[date] = Field(
        description="Days of the last 90 (from the first scan on, before today) that no scan "
        "finished: their snapshots are missing for good."
    )


class HealthCheck(_Closed):
    ok: bool
    error: str | None = None


class LastScan(_Closed):
    id: int
    day: date
    finished_at: datetime | None
    age_s: float | None


class Health(_Closed):
    status: str
    database: HealthCheck
    redis: HealthCheck
    last_scan: LastScan | None
    problems: list[str]
