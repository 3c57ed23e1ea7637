"""GitHub-shaped GraphQL errors.

GitHub puts the error class in a top-level ``type`` key (``NOT_FOUND``,
``EXCESSIVE_PAGINATION``, ``RATE_LIMITED``...), next to ``path``, ``locations`` and
``message``, not in ``extensions``.  Clients branch on it, so the fake must emit it
exactly there.  Internally the type travels in ``extensions["type"]`` (graphql-core
keeps extensions when it wraps a resolver's exception) and is hoisted when formatting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from graphql import GraphQLError, Node


def github_error(
    message: str,
    error_type: str | None = None,
    nodes: Node | Sequence[Node] | None = None,
    path: Sequence[str | int] | None = None,
) -> GraphQLError:
    """A GraphQLError that formats with GitHub's top-level ``type``."""
    extensions = {"type": error_type} if error_type else None
    return GraphQLError(message, nodes, path=path, extensions=extensions)


def format_error(error: GraphQLError) -> dict[str, Any]:
    """One entry of a response's ``errors`` list, in GitHub's key order."""
    out: dict[str, Any] = {}
    extensions = dict(error.extensions or {})
    error_type = extensions.pop("type", None)
    if error_type:
        out["type"] = error_type
    if error.path is not None:
        out["path"] = list(error.path)
    if extensions:
        out["extensions"] = extensions
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["message"] = error.message
    return out


def format_errors(errors: Sequence[GraphQLError]) -> list[dict[str, Any]]:
    """All errors of a response, formatted."""
    return [format_error(e) for e in errors]
