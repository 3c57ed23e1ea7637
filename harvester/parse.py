"""GraphQL payloads → plain rows. No I/O: tested with tables of payloads.

A scan response has one alias per owner page (`o{i}` is `query.pages[i]`). Each alias
can independently be fine, `null` with a NOT_FOUND error (owner gone), `null` with no
error at all (seen on GitHub for unknown owners: treated the same), or `null` with another
error (retried).
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harvester.batching import OwnerPage, Query

__all__ = [
    "OwnerIdentity",
    "PageResult",
    "RepoRow",
    "parse_counts",
    "parse_identity",
    "parse_resolve",
    "parse_scan",
]


@dataclass(frozen=True)
class OwnerIdentity:
    id: int
    node_id: str
    login: str
    name: str | None
    kind: str
    repo_count: int | None = None


@dataclass(frozen=True)
class RepoRow:
    id: int
    node_id: str
    owner_id: int
    name: str
    name_with_owner: str
    is_fork: bool
    is_archived: bool
    stargazers: int
    forks: int
    watchers: int


@dataclass
class PageResult:
    page: OwnerPage
    identity: OwnerIdentity | None = None
    total_count: int | None = None
    repos: list[RepoRow] = field(default_factory=list)
    has_next_page: bool = False
    end_cursor: str | None = None
    missing: bool = False
    error: str | None = None


def _alias_errors(errors: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    by_alias: dict[str, dict[str, Any]] = {}
    for error in errors:
        path = error.get("path") or []
        if path and isinstance(path[0], str):
            by_alias.setdefault(path[0], error)
    return by_alias


def parse_identity(node: Mapping[str, Any]) -> OwnerIdentity | None:
    """An owner node (`...OwnerIdentity`); None for anything that is not a User/Org."""
    kind = node.get("__typename")
    if kind not in ("User", "Organization") or node.get("databaseId") is None:
        return None
    repositories = node.get("repositories") or {}
    count = repositories.get("totalCount")
    return OwnerIdentity(
        id=int(node["databaseId"]),
        node_id=str(node["id"]),
        login=str(node["login"]),
        name=node.get("name"),
        kind=str(kind),
        repo_count=int(count) if count is not None else None,
    )


def parse_resolve(logins: list[str], data: Mapping[str, Any]) -> dict[str, OwnerIdentity | None]:
    """login → identity, or None when GitHub does not know the login."""
    return {login: parse_identity(data.get(f"l{i}") or {}) for i, login in enumerate(logins)}


def parse_counts(node_ids: list[str], data: Mapping[str, Any]) -> dict[str, OwnerIdentity | None]:
    """node id → identity with `repo_count`, or None when the node is gone."""
    nodes = data.get("nodes") or []
    out: dict[str, OwnerIdentity | None] = {}
    for index, node_id in enumerate(node_ids):
        node = nodes[index] if index < len(nodes) else None
        out[node_id] = parse_identity(node) if node else None
    return out


def _repo_row(node: Mapping[str, Any], owner_id: int, owner_node_id: str) -> RepoRow | None:
    """Only public repositories the owner itself owns are kept."""
    if node.get("isPrivate") or node.get("databaseId") is None:
        return None
    if (node.get("owner") or {}).get("id") not in (None, owner_node_id):
        return None
    return RepoRow(
        id=int(node["databaseId"]),
        node_id=str(node["id"]),
        owner_id=owner_id,
        name=str(node["name"]),
        name_with_owner=str(node["nameWithOwner"]),
        is_fork=bool(node.get("isFork")),
        is_archived=bool(node.get("isArchived")),
        stargazers=int(node["stargazerCount"]),
        forks=int(node["forkCount"]),
        watchers=int((node.get("watchers") or {}).get("totalCount") or 0),
    )


def parse_scan(
    query: Query, data: Mapping[str, Any], errors: list[dict[str, Any]]
) -> list[PageResult]:
    alias_errors = _alias_errors(errors)
    results: list[PageResult] = []
    for index, page in enumerate(query.pages):
        alias = f"o{index}"
        node = data.get(alias)
        result = PageResult(page)
        results.append(result)
        if node is None:
            error = alias_errors.get(alias)
            if error is None or error.get("type") == "NOT_FOUND":
                result.missing = True
            else:
                result.error = str(error.get("message") or error.get("type") or "error")[:200]
            continue
        if alias in alias_errors:
            result.error = str(alias_errors[alias].get("message") or "error")[:200]
            continue
        if page.with_identity:
            result.identity = parse_identity(node)
            if result.identity is None:
                result.missing = True
                continue
        connection = node.get("repositories")
        if connection is None:
            result.error = "no repositories connection in the answer"
            continue
        result.total_count = int(connection["totalCount"])
        info = connection.get("pageInfo") or {}
        result.has_next_page = bool(info.get("hasNextPage"))
        result.end_cursor = info.get("endCursor")
        for repo in connection.get("nodes") or []:
            row = _repo_row(repo, page.owner_id, page.node_id) if repo else None
            if row is not None:
                result.repos.append(row)
    return results
