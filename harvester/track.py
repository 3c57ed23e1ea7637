"""Resolve logins on GitHub (users or organizations, batched) and track them."""

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from db import repository as repo
from db.engine import open_session
from harvester.batching import build_resolve_query
from harvester.executor import Executor
from harvester.parse import OwnerIdentity, parse_resolve

__all__ = ["TrackResult", "resolve_logins", "track_logins"]

# GitHub logins: alphanumerics and single inner hyphens, at most 39 characters.
LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
RESOLVE_BATCH = 50


@dataclass
class TrackResult:
    tracked: list[OwnerIdentity] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


async def resolve_logins(
    executor: Executor, logins: Sequence[str]
) -> dict[str, OwnerIdentity | None]:
    """login → identity (None: GitHub knows no such user or organization)."""
    resolved: dict[str, OwnerIdentity | None] = {}
    unique = list(dict.fromkeys(logins))
    for start in range(0, len(unique), RESOLVE_BATCH):
        chunk = unique[start : start + RESOLVE_BATCH]
        response = await executor.run(build_resolve_query(chunk))
        resolved.update(parse_resolve(chunk, response.data))
    return resolved


async def track_logins(
    engine: AsyncEngine, executor: Executor, logins: Sequence[str]
) -> TrackResult:
    result = TrackResult()
    valid: list[str] = []
    for login in logins:
        (valid if LOGIN.match(login) else result.invalid).append(login)
    resolved = await resolve_logins(executor, valid) if valid else {}
    for login, identity in resolved.items():
        if identity is None:
            result.unknown.append(login)
        elif identity.id not in {t.id for t in result.tracked}:
            result.tracked.append(identity)
    async with open_session(engine) as session:
        await repo.upsert_owners(session=session, owners=result.tracked)
    return result
