"""The tables. IDs are GitHub's numeric `databaseId` (BIGINT: GitHub ids approach 2^31);
the GraphQL node id is kept for queries. Logins and names are attributes that change.

- `owners`: tracked (and once tracked) users and organizations; never deleted by a scan,
  marked `gone_on` when GitHub stops knowing them.
- `repositories`: every public repository seen under a tracked owner.
- `snapshots`: one row per repository and UTC day, with the owner of that day.
- `scan_runs` / `scan_batches`: what each scan did, batch by batch (the unit a worker takes).
"""

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, String, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

__all__ = [
    "BatchStatus",
    "Owner",
    "OwnerKind",
    "Repository",
    "RunStatus",
    "ScanBatch",
    "ScanRun",
    "Snapshot",
]


def _utc_timestamp(*, nullable: bool = False, default_now: bool = False) -> Column[datetime]:
    return Column(
        DateTime(timezone=True),
        nullable=nullable,
        server_default=text("now()") if default_now else None,
    )


class OwnerKind(StrEnum):
    USER = "User"
    ORGANIZATION = "Organization"


class RunStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    PARTIAL = "partial"
    FAILED = "failed"


class BatchStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Owner(SQLModel, table=True):
    __tablename__ = "owners"
    __table_args__ = (Index("ix_owners_login_lower", text("lower(login)")),)

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    node_id: str = Field(sa_column=Column(String, nullable=False, unique=True))
    login: str
    name: str | None = None
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    tracked: bool = Field(default=True, index=True)
    # Public repositories seen on the last scan: sizes `repositories(first: …)`.
    repo_count: int | None = None
    tracked_at: datetime = Field(sa_column=_utc_timestamp(default_now=True))
    untracked_at: datetime | None = Field(default=None, sa_column=_utc_timestamp(nullable=True))
    last_scanned_on: date | None = None
    gone_on: date | None = None


class Repository(SQLModel, table=True):
    __tablename__ = "repositories"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    node_id: str
    owner_id: int = Field(sa_type=BigInteger, foreign_key="owners.id", index=True)
    name: str
    name_with_owner: str
    is_fork: bool = False
    is_archived: bool = False
    first_seen_on: date
    last_seen_on: date
    gone_on: date | None = None


class Snapshot(SQLModel, table=True):
    __tablename__ = "snapshots"
    # Serves /v1/users/{id}/stats from the index alone, in the API's order.
    __table_args__ = (
        Index(
            "ix_snapshots_owner_repo_day",
            "owner_id",
            "repo_id",
            "day",
            postgresql_include=["stargazers", "forks", "watchers", "scanned_at"],
        ),
    )

    repo_id: int = Field(
        sa_type=BigInteger, foreign_key="repositories.id", primary_key=True, ondelete="CASCADE"
    )
    day: date = Field(primary_key=True)
    owner_id: int = Field(sa_type=BigInteger, foreign_key="owners.id", ondelete="CASCADE")
    stargazers: int
    forks: int
    watchers: int
    scanned_at: datetime = Field(sa_column=_utc_timestamp(default_now=True))


class ScanRun(SQLModel, table=True):
    __tablename__ = "scan_runs"
    # At most one running scan per day, whoever triggers it.
    __table_args__ = (
        Index(
            "uq_scan_runs_running_day",
            "day",
            unique=True,
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(index=True)
    trigger: str
    status: str = Field(default=RunStatus.RUNNING, sa_column=Column(String(16), nullable=False))
    started_at: datetime = Field(sa_column=_utc_timestamp(default_now=True))
    finished_at: datetime | None = Field(default=None, sa_column=_utc_timestamp(nullable=True))
    batches: int = 0
    owners: int = 0
    repositories: int = 0
    snapshots: int = 0
    requests: int = 0
    points: int = 0
    waits: int = 0
    wait_s: float = 0.0
    errors: int = 0
    reasons: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )


class ScanBatch(SQLModel, table=True):
    __tablename__ = "scan_batches"

    run_id: int = Field(foreign_key="scan_runs.id", primary_key=True, ondelete="CASCADE")
    batch_no: int = Field(primary_key=True)
    owner_ids: list[int] = Field(sa_column=Column(ARRAY(BigInteger), nullable=False))
    status: str = Field(default=BatchStatus.PENDING, sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    owners: int = 0
    repositories: int = 0
    snapshots: int = 0
    requests: int = 0
    points: int = 0
    waits: int = 0
    wait_s: float = 0.0
    errors: int = 0
    reasons: list[str] = Field(
        default_factory=list,
        sa_column=Column(JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    )
    finished_at: datetime | None = Field(default=None, sa_column=_utc_timestamp(nullable=True))
