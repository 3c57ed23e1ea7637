"""One batch of owners, scanned: count pass, first pages, follow-up pages, splitting.

`scan_owners` talks to GitHub only (through an `Executor`) and returns what it saw per
owner; writing it is the caller's business (`harvester.runs`). Pages are planned in
rounds: the first pages of every owner, then the follow-up pages the answers asked for,
batched across owners, until every owner is complete or has failed. A query that keeps
failing is split in halves, down to one owner.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from harvester.batching import (
    PAGE_MAX,
    OwnerPage,
    Query,
    build_counts_query,
    build_scan_query,
    pack_pages,
    size_first,
)
from harvester.errors import TransientError
from harvester.executor import Executor
from harvester.parse import OwnerIdentity, PageResult, RepoRow, parse_counts, parse_scan
from harvester.track import resolve_logins

__all__ = ["OwnerOutcome", "OwnerTarget", "scan_owners"]

log = logging.getLogger(__name__)
ALIAS_RETRIES = 3


@dataclass(frozen=True)
class OwnerTarget:
    id: int
    node_id: str
    login: str
    repo_count: int | None


@dataclass
class OwnerOutcome:
    """What the scan saw of one owner. `complete` means every page came back, so
    repositories absent from `repos` are really gone from the owner."""

    target: OwnerTarget
    identity: OwnerIdentity | None = None
    total_count: int | None = None
    repos: dict[int, RepoRow] = field(default_factory=dict)
    complete: bool = False
    missing: bool = False
    error: str | None = None
    _fetched: int = 0
    _retries: int = 0


ProgressHook = Callable[[Sequence[OwnerOutcome]], None]


async def _count_pass(executor: Executor, outcomes: dict[int, OwnerOutcome]) -> None:
    """`totalCount` for owners never counted: ~1 point per 100 owners."""
    uncounted = [o for o in outcomes.values() if o.target.repo_count is None]
    by_node = {o.target.node_id: o for o in uncounted}
    node_ids = list(by_node)
    for start in range(0, len(node_ids), PAGE_MAX):
        chunk = node_ids[start : start + PAGE_MAX]
        query = build_counts_query(chunk)
        try:
            response = await executor.run(query)
        except TransientError as exc:
            for node_id in chunk:
                by_node[node_id].error = f"count pass failed: {exc}"
            continue
        for node_id, identity in parse_counts(chunk, response.data).items():
            outcome = by_node[node_id]
            if identity is None:
                outcome.missing = True
            else:
                outcome.identity = identity
                outcome.total_count = identity.repo_count


def _first_page(outcome: OwnerOutcome) -> OwnerPage:
    """Sized from the freshest count known: this scan's (count pass, login lookup), else
    the last scan's."""
    count = outcome.total_count
    if count is None:
        count = outcome.target.repo_count or 0
    return OwnerPage(outcome.target.id, outcome.target.node_id, size_first(count))


def _absorb(outcome: OwnerOutcome, result: PageResult) -> OwnerPage | None:
    """Fold one page into the owner's outcome; return the next page it needs."""
    page = result.page
    if result.missing:
        outcome.missing = True
        return None
    if result.error is not None:
        outcome._retries += 1
        if outcome._retries > ALIAS_RETRIES:
            outcome.error = result.error
            return None
        return page
    if result.identity is not None:
        outcome.identity = result.identity
    total = result.total_count or 0
    outcome.total_count = total
    for row in result.repos:
        outcome.repos[row.id] = row
    if page.first == 0:
        outcome._fetched = 0
        if total == 0:
            outcome.complete = True
            return None
        return OwnerPage(page.owner_id, page.node_id, min(PAGE_MAX, total), None, False)
    outcome._fetched += page.first
    if result.has_next_page and result.end_cursor:
        remaining = max(1, total - outcome._fetched)
        return OwnerPage(
            page.owner_id, page.node_id, min(PAGE_MAX, remaining), result.end_cursor, False
        )
    outcome.complete = True
    return None


async def _run_pages(executor: Executor, pages: list[OwnerPage]) -> list[PageResult]:
    """Run one packed query; on repeated transient failure split it in halves."""
    query: Query = build_scan_query(pages)
    try:
        response = await executor.run(query)
    except TransientError as exc:
        if len(pages) == 1:
            return [PageResult(pages[0], error=str(exc))]
        middle = len(pages) // 2
        executor.stats.note("split a failing query in halves")
        halves = await asyncio.gather(
            _run_pages(executor, pages[:middle]), _run_pages(executor, pages[middle:])
        )
        return halves[0] + halves[1]
    return parse_scan(query, response.data, response.errors)


async def _rounds(
    executor: Executor,
    outcomes: dict[int, OwnerOutcome],
    pending: list[OwnerPage],
    *,
    max_points: int,
    on_progress: ProgressHook | None,
) -> None:
    """Pack the pending pages into queries, run them, fold the answers in, and go on
    with the follow-up pages they ask for until none is left."""
    while pending:
        groups = pack_pages(pending, max_points=max_points)
        answers = await asyncio.gather(*(_run_pages(executor, g) for g in groups))
        pending = []
        for results in answers:
            for result in results:
                outcome = outcomes[result.page.owner_id]
                follow_up = _absorb(outcome, result)
                if follow_up is not None:
                    pending.append(follow_up)
        if on_progress is not None:
            on_progress(list(outcomes.values()))


async def _relocate(executor: Executor, lost: list[OwnerOutcome]) -> list[OwnerOutcome]:
    """Owners whose node id did not answer, looked up by login before they are called
    gone: the same databaseId under a new node id (a user turned into an organization)
    is the same owner and keeps its history; under the same node id, the miss was
    GitHub's and the owner is scanned again. Anything else is gone."""
    try:
        found = await resolve_logins(executor, [o.target.login for o in lost])
    except TransientError:
        return []
    found_again = []
    for outcome in lost:
        identity = found.get(outcome.target.login)
        if identity is None or identity.id != outcome.target.id:
            continue
        if identity.node_id == outcome.target.node_id:
            executor.stats.note(f"owner {outcome.target.login} was not found, then found")
        else:
            executor.stats.note(f"owner {outcome.target.login} has a new node id")
            outcome.target = replace(outcome.target, node_id=identity.node_id)
        outcome.identity, outcome.total_count = identity, identity.repo_count
        outcome.missing = False
        found_again.append(outcome)
    return found_again


async def scan_owners(
    executor: Executor,
    targets: Sequence[OwnerTarget],
    *,
    max_points: int,
    on_progress: ProgressHook | None = None,
) -> list[OwnerOutcome]:
    outcomes = {t.id: OwnerOutcome(t) for t in targets}
    await _count_pass(executor, outcomes)
    pending = [_first_page(o) for o in outcomes.values() if not o.missing and o.error is None]
    await _rounds(executor, outcomes, pending, max_points=max_points, on_progress=on_progress)
    lost = [o for o in outcomes.values() if o.missing]
    if lost:
        pending = [_first_page(o) for o in await _relocate(executor, lost)]
        await _rounds(executor, outcomes, pending, max_points=max_points, on_progress=on_progress)
    return list(outcomes.values())
