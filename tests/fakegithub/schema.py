"""The executable schema: the harvester's SDL subset with the fake's resolvers bound.

The SDL is read from ``harvester/queries/schema.graphql`` (the subset of GitHub's schema
the harvester ships and validates its documents against), never copied, so the fake and
the client cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLSchema, build_schema

from .resolvers import RESOLVERS, resolve_type

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "harvester" / "queries" / "schema.graphql"


def build_executable_schema(sdl: str) -> GraphQLSchema:
    """Build ``sdl`` and attach resolvers to every field the fake knows how to serve."""
    schema = build_schema(sdl)
    for type_name, fields in RESOLVERS.items():
        graphql_type = schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            continue
        for field_name, resolver in fields.items():
            if field_name in graphql_type.fields:
                graphql_type.fields[field_name].resolve = resolver
    for graphql_type in schema.type_map.values():
        if isinstance(graphql_type, GraphQLInterfaceType):
            graphql_type.resolve_type = resolve_type
    return schema


@cache
def github_schema() -> GraphQLSchema:
    """The schema subset in ``harvester/queries/schema.graphql``, executable (cached)."""
    return build_executable_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
