"""Plan GraphQL queries: which owners go into which query, with which `first`.

GitHub charges every connection as if its `first` were reached, so an owner asked with
`first: 100` costs a point whatever it really has. Each owner therefore gets its own alias
with `first` sized from the count the last scan saw, and owners are packed into queries up
to a budget of "units" (connection requests; 100 units = 1 point). GitHub rounds the
query's units to the nearest 100, so a query that ends at k·100 + 49 units costs k points:
the capacity is set there. No I/O here: everything is a pure function of its inputs.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harvester.queries import fragments

__all__ = [
    "PAGE_MAX",
    "OwnerPage",
    "Query",
    "build_counts_query",
    "build_resolve_query",
    "pack_pages",
    "page_units",
    "size_first",
]

PAGE_MAX = 100
RATE_LIMIT_SELECTION = "rateLimit { cost remaining resetAt limit }"
REPOSITORIES_ARGS = "ownerAffiliations: [OWNER], privacy: PUBLIC"
ORDER = "orderBy: {field: CREATED_AT, direction: ASC}"


@dataclass(frozen=True)
class OwnerPage:
    """One page of one owner's repositories. `first == 0` asks for the count only (an
    owner that had no repository: 1 unit instead of 2)."""

    owner_id: int
    node_id: str
    first: int
    after: str | None = None
    with_identity: bool = True


@dataclass(frozen=True)
class Query:
    document: str
    variables: dict[str, Any]
    pages: tuple[OwnerPage, ...] = ()
    units: int = 0

    @property
    def name(self) -> str:
        """The operation's name (`query Scan(…)` → "Scan"), sent as `operationName`."""
        return self.document.split("(", 1)[0].split()[-1]

    @property
    def estimated_points(self) -> int:
        return max(1, round(self.units / 100))


@dataclass
class _Bin:
    pages: list[OwnerPage] = field(default_factory=list)
    units: int = 0


def size_first(repo_count: int | None) -> int:
    """`first` for an owner's first page: what the last scan saw (0 = count only).
    Growth beyond it shows up as `hasNextPage` and costs a small follow-up page."""
    if repo_count is None:
        raise ValueError("owner was never counted: run the count pass first")
    return min(PAGE_MAX, max(0, repo_count))


def page_units(page: OwnerPage) -> int:
    """Connection requests a page costs: the `repositories` connection itself, plus one
    `watchers` connection per repository it could return."""
    return 1 + page.first


def pack_pages(
    pages: Iterable[OwnerPage], *, max_points: int, max_aliases: int = 100
) -> list[list[OwnerPage]]:
    """First-fit decreasing into queries of at most `max_points` (after GitHub's
    rounding) and `max_aliases` owners. Deterministic for a given input order."""
    capacity = max_points * 100 + 49
    ordered = sorted(pages, key=lambda p: (-page_units(p), p.owner_id, p.after or ""))
    bins: list[_Bin] = []
    for page in ordered:
        units = page_units(page)
        for candidate in bins:
            if candidate.units + units <= capacity and len(candidate.pages) < max_aliases:
                candidate.pages.append(page)
                candidate.units += units
                break
        else:
            bins.append(_Bin([page], units))
    return [b.pages for b in bins]


def _owner_selection(index: int, page: OwnerPage) -> tuple[str, list[str], dict[str, Any]]:
    alias = f"o{index}"
    identity = "...OwnerIdentity " if page.with_identity else "__typename id "
    variables: dict[str, Any] = {f"i{index}": page.node_id}
    declarations = [f"$i{index}: ID!"]
    if page.first == 0:
        repositories = f"repositories({REPOSITORIES_ARGS}) {{ totalCount }}"
    else:
        declarations += [f"$f{index}: Int!", f"$a{index}: String"]
        variables[f"f{index}"] = page.first
        variables[f"a{index}"] = page.after
        repositories = (
            f"repositories(first: $f{index}, after: $a{index}, {REPOSITORIES_ARGS}, {ORDER}) "
            "{ ...RepoPage }"
        )
    selection = (
        f"{alias}: node(id: $i{index}) {{ {identity}... on RepositoryOwner {{ {repositories} }} }}"
    )
    return selection, declarations, variables


def build_scan_query(pages: Sequence[OwnerPage]) -> Query:
    """One query over several owners' pages: alias `o{i}` is `pages[i]`."""
    selections: list[str] = []
    declarations: list[str] = []
    variables: dict[str, Any] = {}
    for index, page in enumerate(pages):
        selection, decls, values = _owner_selection(index, page)
        selections.append(selection)
        declarations += decls
        variables.update(values)
    body = "\n  ".join([RATE_LIMIT_SELECTION, *selections])
    document = f"query Scan({', '.join(declarations)}) {{\n  {body}\n}}\n"
    document += _used_fragments(document)
    return Query(document, variables, tuple(pages), sum(page_units(p) for p in pages))


def build_resolve_query(logins: Sequence[str]) -> Query:
    """Resolve logins (users or organizations) to ids, with their public repository
    count so that the first scan can size its pages."""
    selections = [
        f"l{i}: repositoryOwner(login: $l{i}) {{ ...OwnerIdentity "
        f"repositories({REPOSITORIES_ARGS}) {{ totalCount }} }}"
        for i in range(len(logins))
    ]
    declarations = ", ".join(f"$l{i}: String!" for i in range(len(logins)))
    body = "\n  ".join([RATE_LIMIT_SELECTION, *selections])
    document = f"query Resolve({declarations}) {{\n  {body}\n}}\n"
    document += _used_fragments(document)
    return Query(
        document, {f"l{i}": login for i, login in enumerate(logins)}, (), units=len(logins)
    )


def build_counts_query(node_ids: Sequence[str]) -> Query:
    """The cheap `totalCount` pass for owners never counted (≤ 100 ids per query)."""
    if len(node_ids) > PAGE_MAX:
        raise ValueError("nodes(ids:) takes at most 100 ids")
    document = (
        "query Counts($ids: [ID!]!) {\n  " + RATE_LIMIT_SELECTION + "\n"
        "  nodes(ids: $ids) { ...OwnerIdentity "
        f"... on RepositoryOwner {{ repositories({REPOSITORIES_ARGS}) {{ totalCount }} }} }}\n}}\n"
    )
    document += _used_fragments(document)
    return Query(document, {"ids": list(node_ids)}, (), units=len(node_ids))


def _used_fragments(document: str) -> str:
    """Append only the fragments the document spreads (GraphQL rejects unused ones)."""
    text = fragments()
    parts = ["fragment " + chunk for chunk in text.split("fragment ")[1:]]
    used = [p for p in parts if f"...{p.split()[1]}" in document]
    return "\n" + "\n".join(used) if used else ""
