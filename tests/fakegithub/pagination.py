"""Relay cursor pagination over repositories, keyset-based like GitHub's.

A cursor carries the sort key of the item it points at (not an offset), so a page
boundary stays correct when repositories are created, deleted or transferred between
two page requests -- the situation a daily scan of a live GitHub is in.  Ties on the
sort key are broken by databaseId, which makes every order total and stable.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from typing import Any

from graphql import GraphQLError

from .errors import github_error
from .ids import decode_cursor, encode_cursor
from .world import Repo

SortKey = str | int

_KEYS: dict[str, Callable[[Repo], SortKey]] = {
    "ID": lambda r: r.database_id,
    "CREATED_AT": lambda r: r.created_at.isoformat(),
    "NAME": lambda r: r.name.lower(),
    "PUSHED_AT": lambda r: r.pushed_at.isoformat(),
    "UPDATED_AT": lambda r: r.updated_at.isoformat(),
    "STARGAZERS": lambda r: r.stargazers,
}


# Sort keys that never change for a repository: an owner's ordered repositories are
# memoised for them (keyed by the set of repositories), so paging through an owner of
# n repositories costs O(n) instead of O(n) per page, O(n²/100) in all.
_STABLE_ORDERS = frozenset({"ID", "CREATED_AT"})
_ORDER_CACHE: dict[tuple[str, frozenset[int]], tuple[list[Repo], list[tuple[SortKey, int]]]] = {}
_ORDER_CACHE_MAX = 4096
_ORDER_CACHE_MIN_REPOS = 200


def _ordered(
    repos: Sequence[Repo], order_field: str
) -> tuple[list[Repo], list[tuple[SortKey, int]]]:
    key_of = _KEYS[order_field]
    cache_key = None
    if order_field in _STABLE_ORDERS and len(repos) >= _ORDER_CACHE_MIN_REPOS:
        # Keyed on the objects themselves (kept alive by the cache, so their ids stay
        # unique): two worlds in one process can hold repositories with the same ids.
        cache_key = (order_field, frozenset(map(id, repos)))
        cached = _ORDER_CACHE.get(cache_key)
        if cached is not None:
            return cached
    ascending = sorted(repos, key=lambda r: (key_of(r), r.database_id))
    keys = [(key_of(r), r.database_id) for r in ascending]
    if cache_key is not None:
        if len(_ORDER_CACHE) >= _ORDER_CACHE_MAX:
            _ORDER_CACHE.clear()
        _ORDER_CACHE[cache_key] = (ascending, keys)
    return ascending, keys


def invalid_cursor(cursor: str) -> GraphQLError:
    """GitHub's answer to a cursor it did not hand out."""
    return github_error(
        f"`{cursor}` does not appear to be a valid cursor.", "INVALID_CURSOR_ARGUMENTS"
    )


def paginate(
    repos: Sequence[Repo],
    order_by: dict[str, str] | None,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """One page of a ``RepositoryConnection``: ``nodes``, ``pageInfo``, ``totalCount``."""
    order_field = order_by["field"] if order_by else "ID"
    descending = bool(order_by and order_by["direction"] == "DESC")
    key_of = _KEYS[order_field]
    ascending, keys = _ordered(repos, order_field)
    key_type = int if order_field in ("ID", "STARGAZERS") else str
    total = len(ascending)

    def position(cursor: str) -> tuple[SortKey, int]:
        decoded = decode_cursor(cursor)
        if (
            decoded is None
            or len(decoded) != 4
            or decoded[0] != order_field
            or decoded[1] != descending
            or type(decoded[2]) is not key_type
            or type(decoded[3]) is not int
        ):
            raise invalid_cursor(cursor)
        return (decoded[2], decoded[3])

    # The window between the cursors, as a slice [lo, hi) of the ascending order.
    lo, hi = 0, total
    if not descending:
        if after is not None:
            lo = bisect.bisect_right(keys, position(after))
        if before is not None:
            hi = bisect.bisect_left(keys, position(before))
    else:
        if after is not None:
            hi = bisect.bisect_left(keys, position(after))
        if before is not None:
            lo = bisect.bisect_right(keys, position(before))
    hi = max(lo, hi)
    window = ascending[lo:hi]
    if descending:
        window.reverse()
    skipped_before = lo if not descending else total - hi  # items ahead of the window
    start, stop = 0, len(window)
    if first is not None:
        stop = min(stop, max(0, first))
    if last is not None:
        start = max(start, stop - max(0, last))
    page = window[start:stop]

    def cursor_of(r: Repo) -> str:
        return encode_cursor([order_field, descending, key_of(r), r.database_id])

    return {
        "nodes": page,
        "totalCount": total,
        "pageInfo": {
            "hasNextPage": skipped_before + stop < total,
            "hasPreviousPage": skipped_before + start > 0,
            "startCursor": cursor_of(page[0]) if page else None,
            "endCursor": cursor_of(page[-1]) if page else None,
        },
    }
