"""Every query document starledger builds validates against the shipped schema subset,
and that subset stays a subset of GitHub's schema (types, fields and arguments)."""

import pytest
from graphql import GraphQLSchema, build_schema, parse, validate

from harvester.batching import (
    OwnerPage,
    build_counts_query,
    build_resolve_query,
    build_scan_query,
)
from harvester.queries import schema_sdl


@pytest.fixture(scope="module")
def schema() -> GraphQLSchema:
    return build_schema(schema_sdl())


QUERIES = {
    "scan, sized pages": build_scan_query(
        [OwnerPage(1, "U_1", 7), OwnerPage(2, "O_2", 100, "Y3Vyc29y")]
    ),
    "scan, count-only and follow-up pages": build_scan_query(
        [OwnerPage(1, "U_1", 0), OwnerPage(3, "U_3", 42, "Y3Vyc29y", with_identity=False)]
    ),
    "scan, follow-up pages only": build_scan_query(
        [OwnerPage(3, "U_3", 42, "Y3Vyc29y", with_identity=False)]
    ),
    "resolve": build_resolve_query(["torvalds", "github"]),
    "counts": build_counts_query(["U_1", "O_2"]),
}


@pytest.mark.parametrize("name", sorted(QUERIES))
def test_query_validates(schema: GraphQLSchema, name: str) -> None:
    assert validate(schema, parse(QUERIES[name].document)) == []


def test_variables_match_declarations() -> None:
    query = QUERIES["scan, sized pages"]
    assert query.variables == {
        "i0": "U_1",
        "f0": 7,
        "a0": None,
        "i1": "O_2",
        "f1": 100,
        "a1": "Y3Vyc29y",
    }


def test_scan_query_asks_for_owned_public_repositories_only() -> None:
    document = QUERIES["scan, sized pages"].document
    assert document.count("ownerAffiliations: [OWNER], privacy: PUBLIC") == 2
    assert "watchers { totalCount }" in " ".join(document.split())
    assert "rateLimit { cost remaining resetAt limit }" in document


def test_subset_defines_repository_connections_as_github_does(schema: GraphQLSchema) -> None:
    repositories = schema.get_type("User").fields["repositories"]  # type: ignore[union-attr]
    assert str(repositories.type) == "RepositoryConnection!"
    assert str(repositories.args["ownerAffiliations"].type) == "[RepositoryAffiliation]"
    assert str(schema.get_type("Repository").fields["databaseId"].type) == "Int"  # type: ignore[union-attr]
