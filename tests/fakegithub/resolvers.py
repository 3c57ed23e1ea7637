"""Resolvers: how each schema field reads the in-memory world.

They are attached to the schema built from the SDL subset the harvester ships, so the
fake can only answer what that subset declares -- a field missing from the subset fails
validation here exactly as a typo would fail on GitHub.  Error messages and ``type``s
copy GitHub's (``Could not resolve to a node with the global id of '...'``, NOT_FOUND).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLResolveInfo

from .cost import Analysis
from .errors import github_error
from .pagination import paginate
from .ratelimit import TokenBudget, iso
from .world import Owner, Repo, World

DEFAULT_AFFILIATIONS = ("OWNER", "COLLABORATOR")
Resolver = Callable[..., Any]
Info = GraphQLResolveInfo[Any]


@dataclass
class RequestContext:
    """What resolvers know about the request being executed."""

    world: World
    analysis: Analysis
    budget: TokenBudget
    unknown_login_error: bool = True
    not_found_aliases: frozenset[str] = frozenset()
    null_aliases: frozenset[str] = frozenset()


def _ctx(info: Info) -> RequestContext:
    ctx = info.context
    assert isinstance(ctx, RequestContext)
    return ctx


def _not_found(what: str, login: str) -> Exception:
    article = "an" if what.startswith(("A", "E", "I", "O")) else "a"
    return github_error(
        f"Could not resolve to {article} {what} with the login of '{login}'.", "NOT_FOUND"
    )


def _node_not_found(global_id: str) -> Exception:
    return github_error(
        f"Could not resolve to a node with the global id of '{global_id}'", "NOT_FOUND"
    )


def _injected(info: Info) -> str | None:
    """An injected fault for this root field's alias: "null", "not_found" or None."""
    ctx = _ctx(info)
    if info.path.key in ctx.null_aliases:
        return "null"
    if info.path.key in ctx.not_found_aliases:
        return "not_found"
    return None


# -- Query ---------------------------------------------------------------------------


def resolve_node(_root: object, info: Info, id: str) -> Owner | Repo | None:
    ctx = _ctx(info)
    if ctx.analysis.dry_run or _injected(info) == "null":
        return None
    found = ctx.world.find_node(id)
    if found is None or _injected(info):
        raise _node_not_found(id)
    return found


def resolve_nodes(_root: object, info: Info, ids: list[str]) -> list[Any]:
    """Unknown ids become ``null`` entries, each with its own NOT_FOUND error."""
    ctx = _ctx(info)
    if ctx.analysis.dry_run:
        return []
    if _injected(info) == "not_found":
        raise _node_not_found(ids[0] if ids else "")
    return [ctx.world.find_node(i) or _node_not_found(i) for i in ids]


def resolve_rate_limit(_root: object, info: Info, dryRun: bool = False) -> dict[str, Any]:
    ctx = _ctx(info)
    budget = ctx.budget
    remaining = budget.remaining
    return {
        "cost": ctx.analysis.cost,
        "limit": budget.limit,
        "nodeCount": ctx.analysis.node_count,
        "remaining": remaining,
        "resetAt": iso(budget.reset_at),
        "used": budget.limit - remaining,
    }


def resolve_repository_owner(_root: object, info: Info, login: str) -> Owner | None:
    """Unknown login: null, with a NOT_FOUND error or silently (both seen on GitHub)."""
    ctx = _ctx(info)
    if ctx.analysis.dry_run or _injected(info) == "null":
        return None
    owner = ctx.world.find_login(login)
    if _injected(info) or (owner is None and ctx.unknown_login_error):
        raise _not_found("RepositoryOwner", login)
    return owner


def _login_of_kind(kind: str) -> Resolver:
    def resolve(_root: object, info: Info, login: str) -> Owner | None:
        ctx = _ctx(info)
        if ctx.analysis.dry_run or _injected(info) == "null":
            return None
        owner = ctx.world.find_login(login)
        if owner is None or owner.kind != kind or _injected(info):
            raise _not_found(kind, login)
        return owner

    return resolve


# -- RepositoryOwner -------------------------------------------------------------------


def resolve_repositories(
    owner: Owner,
    info: Info,
    privacy: str | None = None,
    ownerAffiliations: list[str | None] | None = None,
    orderBy: dict[str, str] | None = None,
    isFork: bool | None = None,
    after: str | None = None,
    before: str | None = None,
    first: int | None = None,
    last: int | None = None,
) -> dict[str, Any]:
    world = _ctx(info).world
    affiliations = [a for a in ownerAffiliations or () if a] or list(DEFAULT_AFFILIATIONS)
    repos = [
        r
        for r in world.repositories_of(owner, affiliations)
        if (privacy is None or r.is_private == (privacy == "PRIVATE"))
        and (isFork is None or r.is_fork == isFork)
    ]
    return paginate(repos, orderBy, first=first, after=after, last=last, before=before)


def _attr(name: str) -> Resolver:
    def resolve(obj: object, _info: Info) -> Any:
        return getattr(obj, name)

    return resolve


_OWNER_FIELDS: dict[str, Resolver] = {
    "id": _attr("node_id"),
    "databaseId": _attr("database_id"),
    "login": _attr("login"),
    "name": _attr("name"),
    "repositories": resolve_repositories,
}


# -- Repository ------------------------------------------------------------------------


def resolve_repo_owner(repo: Repo, info: Info) -> Owner:
    return _ctx(info).world.owners[repo.owner_id]


def resolve_name_with_owner(repo: Repo, info: Info) -> str:
    return f"{_ctx(info).world.owners[repo.owner_id].login}/{repo.name}"


def resolve_watchers(
    repo: Repo,
    _info: Info,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> dict[str, Any]:
    """Only the count is public; the list itself is not served (GitHub restricts it)."""
    page = first if first is not None else last
    return {
        "totalCount": repo.watchers,
        "pageInfo": {
            "hasNextPage": page is not None and repo.watchers > page,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
    }


_REPO_FIELDS: dict[str, Resolver] = {
    "id": _attr("node_id"),
    "databaseId": _attr("database_id"),
    "name": _attr("name"),
    "nameWithOwner": resolve_name_with_owner,
    "owner": resolve_repo_owner,
    "stargazerCount": _attr("stargazers"),
    "forkCount": _attr("forks"),
    "watchers": resolve_watchers,
    "isFork": _attr("is_fork"),
    "isArchived": _attr("is_archived"),
    "isPrivate": _attr("is_private"),
    "visibility": _attr("visibility"),
    "createdAt": lambda r, _i: iso(r.created_at.timestamp()),
}

RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Query": {
        "node": resolve_node,
        "nodes": resolve_nodes,
        "rateLimit": resolve_rate_limit,
        "repositoryOwner": resolve_repository_owner,
        "user": _login_of_kind("User"),
        "organization": _login_of_kind("Organization"),
    },
    "User": _OWNER_FIELDS,
    "Organization": _OWNER_FIELDS,
    "Repository": _REPO_FIELDS,
}


def resolve_type(obj: object, _info: Info, _type: object) -> str:
    """Concrete type of a ``Node`` / ``RepositoryOwner`` value."""
    if isinstance(obj, Owner):
        return obj.kind
    return "Repository"
