"""The fake GitHub behaves like GitHub where the harvester depends on it.

These tests pin the fake's behaviour (cost formula, pagination, limits, faults), so a
harvester test that passes against it exercises the same contract GitHub imposes.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, build_schema, parse

from tests.fakegithub import (
    Clock,
    ErrorsIn200,
    ExhaustBudget,
    FakeGitHub,
    Http502,
    Http504,
    NotFoundAlias,
    NullAlias,
    RateLimited,
    SecondaryLimit,
    Slow,
    World,
    analyze,
    github_schema,
    heavy_tailed_population,
    operation_is,
    points,
    serve,
    serve_in_thread,
)

OWNER_FIELDS = """__typename id login
    ... on User { databaseId name } ... on Organization { databaseId name }
    repositories(ownerAffiliations: [OWNER], privacy: PUBLIC) { totalCount }"""
RESOLVE = f"""query Resolve($l0: String!, $l1: String!) {{
  rateLimit {{ cost remaining resetAt limit }}
  l0: repositoryOwner(login: $l0) {{ {OWNER_FIELDS} }}
  l1: repositoryOwner(login: $l1) {{ {OWNER_FIELDS} }}
}}"""
COUNTS = """query Counts($ids: [ID!]!) { rateLimit { cost remaining resetAt }
  nodes(ids: $ids) { __typename id ... on RepositoryOwner {
    repositories(ownerAffiliations: [OWNER], privacy: PUBLIC) { totalCount } } } }"""
SCAN_OWNER = """o{i}: node(id: $o{i}) {{ __typename id
    ... on User {{ databaseId login name }} ... on Organization {{ databaseId login name }}
    ... on RepositoryOwner {{ repositories(first: $f{i}, after: $a{i}, ownerAffiliations: [OWNER],
        privacy: PUBLIC, orderBy: {{field: CREATED_AT, direction: ASC}}) {{
      totalCount pageInfo {{ hasNextPage endCursor }}
      nodes {{ id databaseId name nameWithOwner isFork isArchived isPrivate stargazerCount
        forkCount watchers {{ totalCount }} owner {{ id }} }} }} }} }}"""


def scan_query(n: int) -> str:
    """The harvester's Scan query for ``n`` owners (aliases o0..o{n-1})."""
    params = ", ".join(f"$o{i}: ID!, $f{i}: Int!, $a{i}: String" for i in range(n))
    body = "\n".join(SCAN_OWNER.format(i=i) for i in range(n))
    return f"query Scan({params}) {{\n rateLimit {{ cost remaining resetAt limit }}\n{body}\n}}"


SCAN = scan_query(1)
REPOS = """query Repos($login: String!, $first: Int, $after: String, $last: Int,
    $before: String, $aff: [RepositoryAffiliation], $privacy: RepositoryPrivacy,
    $order: RepositoryOrder) {
  repositoryOwner(login: $login) { repositories(first: $first, after: $after, last: $last,
      before: $before, ownerAffiliations: $aff, privacy: $privacy, orderBy: $order) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { databaseId name isPrivate owner { login } } } } }"""


@pytest.fixture
def world() -> World:
    world = World(seed=7)
    world.add_user("Alice", name="Alice A.", repos=12, private_repos=3)
    world.add_org("acme", name=None, repos=250, private_repos=5)
    world.add_user("bob", repos=2)
    return world


@pytest.fixture
def fake(world: World) -> FakeGitHub:
    return FakeGitHub(world, tokens=["t1", "t2"], clock=Clock(frozen_at=1_800_000_000.0))


@pytest.fixture
async def client(fake: FakeGitHub) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        yield client


async def post(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = "t1",
    path: str = "/graphql",
) -> httpx.Response:
    headers = {"Authorization": f"bearer {token}"} if token else {}
    return await client.post(path, json={"query": query, "variables": variables}, headers=headers)


def requests_of(query: str, variables: dict[str, Any] | None = None, schema: Any = None) -> int:
    """Connection requests GitHub's formula counts for ``query``."""
    from graphql.execution.values import get_variable_values

    schema = schema or github_schema()
    document = parse(query)
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    assert not isinstance(coerced, list)
    return analyze(schema, document, operation, coerced).requests


# -- cost --------------------------------------------------------------------------------

SYNTHETIC = build_schema("""
type Query { viewer: User!  nodes(ids: [ID!]!): [Node]! }
interface Node { id: ID! }
type User implements Node { id: ID! repositories(first: Int, last: Int): RepositoryConnection! }
type RepositoryConnection { nodes: [Repository] totalCount: Int! }
type Repository implements Node { id: ID! issues(first: Int, last: Int): IssueConnection! }
type IssueConnection { nodes: [Issue] totalCount: Int! }
type Issue { labels(first: Int): LabelConnection! }
type LabelConnection { nodes: [Label] totalCount: Int! }
type Label { name: String! }
""")


def test_points_round_half_up_with_minimum_one() -> None:
    assert [points(n) for n in (0, 1, 8, 49, 50, 149, 150, 5050, 5101)] == [
        1,
        1,
        1,
        1,
        1,
        1,
        2,
        51,
        51,
    ]


def test_githubs_documented_example_costs_51() -> None:
    query = """query { viewer { repositories(first: 100) { nodes {
        issues(first: 50) { nodes { labels(first: 60) { nodes { name } } } } } } } }"""
    assert requests_of(query, schema=SYNTHETIC) == 1 + 100 + 5000
    assert points(requests_of(query, schema=SYNTHETIC)) == 51


def test_nodes_ids_multiplies_what_is_below() -> None:
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on User {
        repositories(first: 10) { nodes { issues { totalCount } } } } } }"""
    ids = [str(i) for i in range(30)]
    assert requests_of(query, {"ids": ids}, SYNTHETIC) == 30 * (1 + 10)
    assert requests_of(COUNTS, {"ids": ids}) == 30


def test_scan_query_costs() -> None:
    one = {"o0": "x", "f0": 7, "a0": None}
    assert requests_of(SCAN, one) == 1 + 7
    fifty: dict[str, Any] = {}
    for i in range(50):
        fifty |= {f"o{i}": f"id{i}", f"f{i}": 100, f"a{i}": None}
    assert requests_of(scan_query(50), fifty) == 50 + 5000
    assert points(requests_of(scan_query(50), fifty)) == 51
    assert requests_of(RESOLVE, {"l0": "a", "l1": "b"}) == 2


def test_cost_follows_fragments_skip_and_abstract_types() -> None:
    query = """query($skip: Boolean!) { viewer { ...R  again: repositories(first: 3)
        @skip(if: $skip) { totalCount } } }
      fragment R on User { repositories(first: 4) { nodes { issues(first: 2) { totalCount } } } }"""
    assert requests_of(query, {"skip": True}, SYNTHETIC) == 1 + 4
    assert requests_of(query, {"skip": False}, SYNTHETIC) == 1 + 4 + 1
    # Under an interface only one concrete type applies per object: max, not sum.
    both = """query($ids: [ID!]!) { nodes(ids: $ids) {
        ... on User { repositories(first: 5) { totalCount } }
        ... on Repository { issues(first: 5) { totalCount } } } }"""
    assert requests_of(both, {"ids": ["a", "b"]}, SYNTHETIC) == 2


async def test_rate_limit_reports_cost_and_charges_it(
    client: httpx.AsyncClient, fake: FakeGitHub, world: World
) -> None:
    acme = world.owner("acme")
    response = await post(client, SCAN, {"o0": acme.node_id, "f0": 100, "a0": None})
    body = response.json()
    assert body["data"]["rateLimit"] == {
        "cost": 1,
        "remaining": 4999,
        "limit": 5000,
        "resetAt": "2027-01-15T09:00:00Z",
    }
    assert response.headers["x-ratelimit-remaining"] == "4999"
    assert response.headers["x-ratelimit-used"] == "1"
    assert response.headers["x-ratelimit-resource"] == "graphql"
    assert response.headers["x-ratelimit-reset"] == str(1_800_000_000 + 3600)
    record = fake.log[-1]
    assert (record.token, record.operation_name, record.cost, record.status) == ("t1", None, 1, 200)
    assert record.variables == {"o0": acme.node_id, "f0": 100, "a0": None}
    assert fake.points_charged == {"t1": 1, "t2": 0}


async def test_dry_run_is_not_charged(client: httpx.AsyncClient, fake: FakeGitHub) -> None:
    query = '{ rateLimit(dryRun: true) { cost remaining nodeCount } user(login: "bob") { id } }'
    body = (await post(client, query)).json()
    assert body == {
        "data": {"rateLimit": {"cost": 1, "remaining": 5000, "nodeCount": 0}, "user": None}
    }
    assert fake.total_points == 0


async def test_node_count_limit_rejects_whole_query(
    client: httpx.AsyncClient, fake: FakeGitHub, world: World
) -> None:
    query = """query($ids: [ID!]!) { nodes(ids: $ids) { ... on User {
        repositories(first: 100) { nodes { owner { repositories(first: 100) {
          nodes { id } } } } } } } }"""
    ids = [world.owner("Alice").node_id] * 100
    body = (await post(client, query, {"ids": ids})).json()
    assert body["data"] is None
    assert body["errors"][0]["type"] == "MAX_NODE_LIMIT_EXCEEDED"
    assert "1,010,100 possible nodes" in body["errors"][0]["message"]
    assert fake.total_points == 0


# -- the harvester's queries -----------------------------------------------------------


async def test_resolve_query(client: httpx.AsyncClient, world: World) -> None:
    body = (await post(client, RESOLVE, {"l0": "ALICE", "l1": "Acme"})).json()
    alice, acme = world.owner("alice"), world.owner("acme")
    assert "errors" not in body
    assert body["data"]["l0"] == {
        "__typename": "User",
        "id": alice.node_id,
        "login": "Alice",
        "databaseId": alice.database_id,
        "name": "Alice A.",
        "repositories": {"totalCount": 12},
    }
    assert body["data"]["l1"]["__typename"] == "Organization"
    assert body["data"]["l1"]["name"] is None
    assert body["data"]["l1"]["repositories"] == {"totalCount": 250}
    assert acme.node_id.startswith("O_kgDO") and alice.node_id.startswith("U_kgDO")


async def test_counts_query_and_unknown_node(client: httpx.AsyncClient, world: World) -> None:
    ids = [world.owner("bob").node_id, "U_kgDOgone", world.owner("acme").node_id]
    body = (await post(client, COUNTS, {"ids": ids})).json()
    nodes = body["data"]["nodes"]
    assert nodes[0]["repositories"] == {"totalCount": 2}
    assert nodes[1] is None
    assert nodes[2]["repositories"] == {"totalCount": 250}
    assert body["errors"] == [
        {
            "type": "NOT_FOUND",
            "path": ["nodes", 1],
            "locations": [{"line": 2, "column": 3}],
            "message": "Could not resolve to a node with the global id of 'U_kgDOgone'",
        }
    ]


async def test_scan_walks_every_public_repo_exactly_once(
    client: httpx.AsyncClient, world: World
) -> None:
    acme = world.owner("acme")
    world.add_collaborator("Alice", acme.repo_ids[0])
    seen: list[int] = []
    after = None
    while True:
        body = (await post(client, SCAN, {"o0": acme.node_id, "f0": 100, "a0": after})).json()
        assert "errors" not in body
        repos = body["data"]["o0"]["repositories"]
        assert repos["totalCount"] == 250
        for node in repos["nodes"]:
            assert node["owner"]["id"] == acme.node_id and not node["isPrivate"]
            assert node["nameWithOwner"] == f"acme/{node['name']}"
            seen.append(node["databaseId"])
        if not repos["pageInfo"]["hasNextPage"]:
            break
        after = repos["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 250
    assert set(seen) == set(world.truth(["acme"]))
    truth = world.truth(["acme"])
    assert seen == sorted(truth)  # CREATED_AT ascending == creation order here


async def test_pagination_survives_deletions_between_pages(
    client: httpx.AsyncClient, world: World
) -> None:
    variables: dict[str, Any] = {
        "login": "acme",
        "first": 50,
        "aff": ["OWNER"],
        "privacy": "PUBLIC",
        "order": {"field": "NAME", "direction": "DESC"},
    }
    page = (await post(client, REPOS, variables)).json()["data"]["repositoryOwner"]
    seen = [n["databaseId"] for n in page["repositories"]["nodes"]]
    world.delete_repo(seen[-1])  # the cursor's own item vanishes
    world.delete_repo(page["repositories"]["nodes"][0]["databaseId"])
    while page["repositories"]["pageInfo"]["hasNextPage"]:
        variables["after"] = page["repositories"]["pageInfo"]["endCursor"]
        page = (await post(client, REPOS, variables)).json()["data"]["repositoryOwner"]
        seen += [n["databaseId"] for n in page["repositories"]["nodes"]]
    assert len(seen) == len(set(seen)) == 250
    assert page["repositories"]["totalCount"] == 248


async def test_backward_pagination_with_last_and_before(client: httpx.AsyncClient) -> None:
    variables: dict[str, Any] = {"login": "acme", "last": 100, "aff": ["OWNER"]}
    seen: list[int] = []
    while True:
        repos = (await post(client, REPOS, variables)).json()["data"]["repositoryOwner"][
            "repositories"
        ]
        seen = [n["databaseId"] for n in repos["nodes"]] + seen
        if not repos["pageInfo"]["hasPreviousPage"]:
            break
        variables["before"] = repos["pageInfo"]["startCursor"]
    assert len(seen) == 255 and seen == sorted(seen)


@pytest.mark.parametrize(
    "order",
    [
        None,
        {"field": "CREATED_AT", "direction": "ASC"},
        {"field": "NAME", "direction": "DESC"},
        {"field": "STARGAZERS", "direction": "DESC"},
        {"field": "PUSHED_AT", "direction": "ASC"},
    ],
)
async def test_walks_agree_in_both_directions(
    client: httpx.AsyncClient, order: dict[str, str] | None
) -> None:
    async def walk(size_arg: str, cursor_arg: str, info_flag: str, info_cursor: str) -> list[int]:
        variables: dict[str, Any] = {"login": "acme", size_arg: 37, "aff": ["OWNER"]}
        variables["order"] = order
        seen: list[int] = []
        while True:
            data = (await post(client, REPOS, variables)).json()["data"]
            repos = data["repositoryOwner"]["repositories"]
            page = [n["databaseId"] for n in repos["nodes"]]
            seen = seen + page if size_arg == "first" else page + seen
            if not repos["pageInfo"][info_flag]:
                return seen
            variables[cursor_arg] = repos["pageInfo"][info_cursor]

    forward = await walk("first", "after", "hasNextPage", "endCursor")
    backward = await walk("last", "before", "hasPreviousPage", "startCursor")
    assert forward == backward
    assert len(forward) == len(set(forward)) == 255


async def test_invalid_cursor(client: httpx.AsyncClient) -> None:
    body = (await post(client, REPOS, {"login": "acme", "first": 5, "after": "bogus"})).json()
    assert body["errors"][0]["type"] == "INVALID_CURSOR_ARGUMENTS"
    assert body["errors"][0]["message"] == "`bogus` does not appear to be a valid cursor."


@pytest.mark.parametrize(("arg", "value"), [("first", 101), ("last", 1000)])
async def test_page_size_over_100_is_rejected(
    client: httpx.AsyncClient, fake: FakeGitHub, arg: str, value: int
) -> None:
    body = (await post(client, REPOS, {"login": "acme", arg: value})).json()
    assert body["data"] is None
    assert body["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    assert body["errors"][0]["message"] == (
        f"Requesting {value} records on the `repositories` connection exceeds the `{arg}` "
        "limit of 100 records."
    )
    assert fake.total_points == 0


async def test_nodes_without_first_or_last_is_rejected(client: httpx.AsyncClient) -> None:
    body = (await post(client, REPOS, {"login": "acme"})).json()
    assert body["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    assert "You must provide a `first` or `last` value" in body["errors"][0]["message"]


async def test_more_than_100_node_ids_fails_the_request(
    client: httpx.AsyncClient, world: World
) -> None:
    body = (await post(client, COUNTS, {"ids": [world.owner("bob").node_id] * 101})).json()
    assert body["data"] is None
    assert body["errors"][0]["type"] == "ARGUMENT_LIMIT"
    assert body["errors"][0]["message"] == (
        "You may not provide more than 100 node ids; you provided 101."
    )
    ok = (await post(client, COUNTS, {"ids": [world.owner("bob").node_id] * 100})).json()
    assert len(ok["data"]["nodes"]) == 100


async def test_default_affiliations_include_collaborator_repos(
    client: httpx.AsyncClient, world: World
) -> None:
    acme_repo = world.owner("acme").repo_ids[3]
    world.add_collaborator("bob", acme_repo)
    world.add_member("acme", "bob")

    async def ids(**extra: Any) -> set[int]:
        variables = {"login": "bob", "first": 100, **extra}
        data = (await post(client, REPOS, variables)).json()["data"]
        return {n["databaseId"] for n in data["repositoryOwner"]["repositories"]["nodes"]}

    own = set(world.owner("bob").repo_ids)
    assert await ids() == own | {acme_repo}
    assert await ids(aff=["OWNER"]) == own
    assert await ids(aff=["COLLABORATOR"]) == {acme_repo}
    assert len(await ids(aff=["ORGANIZATION_MEMBER"])) == 100


async def test_privacy_filter(client: httpx.AsyncClient, world: World) -> None:
    async def repos(**extra: Any) -> list[dict[str, Any]]:
        variables = {"login": "Alice", "first": 100, "aff": ["OWNER"], **extra}
        data = (await post(client, REPOS, variables)).json()["data"]
        nodes: list[dict[str, Any]] = data["repositoryOwner"]["repositories"]["nodes"]
        return nodes

    assert len(await repos()) == 15  # the token "sees" private repositories
    assert not any(r["isPrivate"] for r in await repos(privacy="PUBLIC"))
    assert len(await repos(privacy="PUBLIC")) == 12
    assert all(r["isPrivate"] for r in await repos(privacy="PRIVATE"))
    world.make_private(world.owner("Alice").repo_ids[0])
    assert len(await repos(privacy="PUBLIC")) == 11


async def test_unknown_login_with_error(client: httpx.AsyncClient) -> None:
    body = (await post(client, RESOLVE, {"l0": "bob", "l1": "ghost"})).json()
    assert body["data"]["l0"]["login"] == "bob"
    assert body["data"]["l1"] is None
    assert body["errors"] == [
        {
            "type": "NOT_FOUND",
            "path": ["l1"],
            "locations": [{"line": 6, "column": 3}],
            "message": "Could not resolve to a RepositoryOwner with the login of 'ghost'.",
        }
    ]


async def test_unknown_login_silently_null(client: httpx.AsyncClient, fake: FakeGitHub) -> None:
    fake.unknown_login_error = False
    body = (await post(client, RESOLVE, {"l0": "bob", "l1": "ghost"})).json()
    assert body["data"]["l1"] is None and "errors" not in body


async def test_user_and_organization_lookups(client: httpx.AsyncClient) -> None:
    body = (
        await post(
            client, '{ u: user(login: "acme") { id } o: organization(login: "acme") { login } }'
        )
    ).json()
    assert body["data"] == {"u": None, "o": {"login": "acme"}}
    assert body["errors"][0]["message"] == "Could not resolve to a User with the login of 'acme'."


async def test_field_not_in_schema_is_a_validation_error(
    client: httpx.AsyncClient, fake: FakeGitHub
) -> None:
    response = await post(client, '{ repositoryOwner(login: "bob") { stargazers } }')
    assert response.status_code == 200
    body = response.json()
    assert "data" not in body
    assert "stargazers" in body["errors"][0]["message"]
    assert body["errors"][0]["locations"] == [{"line": 1, "column": 35}]
    assert fake.total_points == 0
    syntax = (await post(client, "{ rateLimit { cost }")).json()
    assert "Syntax Error" in syntax["errors"][0]["message"]


async def test_databaseid_needs_a_fragment_on_repository_owner(client: httpx.AsyncClient) -> None:
    body = (await post(client, '{ repositoryOwner(login: "bob") { databaseId } }')).json()
    assert "databaseId" in body["errors"][0]["message"]


# -- tokens and the primary limit ------------------------------------------------------


async def test_bad_credentials(client: httpx.AsyncClient) -> None:
    response = await post(client, "{ rateLimit { cost } }", token="nope")
    assert response.status_code == 401
    assert response.json()["message"] == "Bad credentials"
    assert (await post(client, "{ rateLimit { cost } }", token=None)).status_code == 401


async def test_budget_exhaustion_and_reset(world: World) -> None:
    clock = Clock(frozen_at=1_800_000_000.0)
    fake = FakeGitHub(world, tokens={"small": 3}, clock=clock)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        query = '{ rateLimit { remaining used } user(login: "bob") { login } }'
        for remaining in (2, 1, 0):
            body = (await post(client, query, token="small")).json()
            assert body["data"]["rateLimit"]["remaining"] == remaining
        refused = await post(client, query, token="small")
        assert refused.status_code == 200
        assert refused.json()["errors"][0]["type"] == "RATE_LIMITED"
        assert refused.json()["errors"][0]["message"].startswith("API rate limit exceeded for")
        assert "data" not in refused.json() or refused.json()["data"] is None
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.headers["x-ratelimit-reset"] == str(1_800_000_000 + 3600)
        clock.advance(3600)
        again = await post(client, query, token="small")
        assert again.json()["data"]["rateLimit"] == {"remaining": 2, "used": 1}
        assert fake.points_charged == {"small": 4}


# -- faults ----------------------------------------------------------------------------

QUERY = '{ rateLimit { cost } user(login: "bob") { login } }'


async def test_502_json_is_charged(client: httpx.AsyncClient, fake: FakeGitHub) -> None:
    fake.faults.push(Http502())
    response = await post(client, QUERY)
    assert response.status_code == 502
    assert response.json()["data"] is None
    assert response.json()["errors"][0]["message"].startswith("Something went wrong while ")
    assert fake.total_points == 1
    assert (await post(client, QUERY)).status_code == 200


@pytest.mark.parametrize(("fault", "status"), [(Http502(html=True), 502), (Http504(), 504)])
async def test_html_gateway_errors(
    client: httpx.AsyncClient, fake: FakeGitHub, fault: Http502 | Http504, status: int
) -> None:
    fake.faults.push(fault)
    response = await post(client, QUERY)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text
    assert fake.log[-1].fault == fault.name


@pytest.mark.parametrize(
    ("fault", "status", "retry_after", "reset"),
    [
        (SecondaryLimit(403, retry_after=7), 403, "7", False),
        (SecondaryLimit(429, retry_after=None, reset_in=5), 429, None, True),
        (SecondaryLimit(403, retry_after=None), 403, None, False),
    ],
)
async def test_secondary_limits(
    client: httpx.AsyncClient,
    fake: FakeGitHub,
    fault: SecondaryLimit,
    status: int,
    retry_after: str | None,
    reset: bool,
) -> None:
    fake.faults.push(fault)
    response = await post(client, QUERY)
    assert response.status_code == status
    assert response.json()["message"].startswith("You have exceeded a secondary rate limit")
    assert response.headers.get("retry-after") == retry_after
    if reset:
        assert response.headers["x-ratelimit-remaining"] == "0"
        assert response.headers["x-ratelimit-reset"] == str(1_800_000_000 + 5)
    assert fake.total_points == 0


@pytest.mark.parametrize("error_type", ["RATE_LIMITED", "RATE_LIMIT"])
async def test_rate_limited_in_200(
    client: httpx.AsyncClient, fake: FakeGitHub, error_type: str
) -> None:
    fake.faults.push(RateLimited(error_type))
    response = await post(client, QUERY)
    assert response.status_code == 200
    assert response.json()["errors"][0]["type"] == error_type
    assert response.headers["x-ratelimit-remaining"] == "0"


async def test_not_found_on_one_alias(client: httpx.AsyncClient, fake: FakeGitHub) -> None:
    fake.faults.add_rule(NotFoundAlias("l1"), operation_is("Resolve"), times=1)
    await post(client, QUERY)  # not a Resolve: untouched, rule not consumed
    body = (await post(client, RESOLVE, {"l0": "bob", "l1": "acme"})).json()
    assert body["data"]["l0"]["login"] == "bob"
    assert body["data"]["l1"] is None
    assert body["errors"][0]["type"] == "NOT_FOUND" and body["errors"][0]["path"] == ["l1"]
    again = (await post(client, RESOLVE, {"l0": "bob", "l1": "acme"})).json()
    assert again["data"]["l1"]["login"] == "acme"


async def test_null_alias_without_error(client: httpx.AsyncClient, fake: FakeGitHub) -> None:
    fake.faults.push(NullAlias("l0"))
    body = (await post(client, RESOLVE, {"l0": "bob", "l1": "acme"})).json()
    assert body["data"]["l0"] is None and body["data"]["l1"]["login"] == "acme"
    assert "errors" not in body


async def test_timedout_errors_in_200(client: httpx.AsyncClient, fake: FakeGitHub) -> None:
    fake.faults.push(ErrorsIn200())
    response = await post(client, QUERY)
    assert response.status_code == 200
    assert response.json() == {"data": None, "errors": [{"message": "timedout"}]}


async def test_exhausted_budget_with_near_reset(
    client: httpx.AsyncClient, fake: FakeGitHub
) -> None:
    fake.faults.push(ExhaustBudget(reset_in=2))
    refused = await post(client, QUERY)
    assert refused.json()["errors"][0]["type"] == "RATE_LIMITED"
    assert refused.headers["x-ratelimit-reset"] == str(1_800_000_000 + 2)
    assert (await post(client, QUERY)).json()["errors"][0]["type"] == "RATE_LIMITED"
    fake.clock.advance(2)
    ok = await post(client, QUERY)
    assert ok.json()["data"]["user"] == {"login": "bob"}
    assert ok.headers["x-ratelimit-remaining"] == "4999"


async def test_slow_response_trips_client_timeout(fake: FakeGitHub) -> None:
    fake.faults.push(Slow(1.0))
    async with serve(fake) as url, httpx.AsyncClient(timeout=0.2) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post(url, json={"query": QUERY}, headers={"Authorization": "bearer t1"})
        response = await client.post(
            url, json={"query": QUERY}, headers={"Authorization": "bearer t1"}
        )
        assert response.status_code == 200


async def test_fault_rate_is_seeded() -> None:
    async def pattern() -> list[int]:
        fake = FakeGitHub(World(), tokens=["t"], fault_seed=3)
        fake.faults.add_rule(Http502(charge=False), rate=0.3)
        transport = httpx.ASGITransport(app=fake.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://f") as client:
            return [(await post(client, QUERY, token="t")).status_code for _ in range(30)]

    first, second = await pattern(), await pattern()
    assert first == second and 502 in first and 200 in first


async def test_points_per_minute_secondary_limit(world: World) -> None:
    clock = Clock(frozen_at=1_800_000_000.0)
    fake = FakeGitHub(world, tokens=["t1"], clock=clock, points_per_minute=3)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        statuses = [(await post(client, QUERY)).status_code for _ in range(3)]
        refused = await post(client, QUERY)
        assert statuses == [200, 200, 200] and refused.status_code == 403
        assert refused.headers["retry-after"] == "60"
        clock.advance(61)
        assert (await post(client, QUERY)).status_code == 200


async def test_max_concurrency(world: World) -> None:
    fake = FakeGitHub(world, tokens=["t1"], latency=0.1, max_concurrency=2)
    transport = httpx.ASGITransport(app=fake.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://fake") as client:
        responses = await asyncio.gather(*(post(client, QUERY) for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [200, 200, 403, 403, 403]
    assert fake.max_in_flight == 3  # refused requests leave at once


# -- world -----------------------------------------------------------------------------


async def test_rename_delete_transfer(client: httpx.AsyncClient, world: World) -> None:
    bob = world.owner("bob")
    world.rename_owner("bob", "robert")
    body = (await post(client, RESOLVE, {"l0": "robert", "l1": "bob"})).json()
    assert body["data"]["l0"]["databaseId"] == bob.database_id and body["data"]["l1"] is None

    moved = world.transfer_repo(world.owner("acme").repo_ids[0], "robert")
    assert world.truth(["robert"])[moved.database_id][0] == bob.database_id
    node = (
        await post(
            client,
            f'{{ node(id: "{moved.node_id}") {{ ... on Repository '
            "{ nameWithOwner owner { login } } } }",
        )
    ).json()
    assert node["data"]["node"]["nameWithOwner"] == f"robert/{moved.name}"

    world.delete_owner("robert")
    gone = (await post(client, f'{{ node(id: "{bob.node_id}") {{ id }} }}')).json()
    assert gone["data"]["node"] is None and gone["errors"][0]["type"] == "NOT_FOUND"
    assert moved.database_id not in world.truth()


def test_advance_day_is_seeded_and_changes_counts() -> None:
    def run() -> tuple[dict[int, tuple[int, int, int, int]], dict[int, tuple[int, int, int, int]]]:
        world = World(seed=5)
        world.add_user("a", repos=50)
        before = world.truth()
        world.advance_day()
        return before, world.truth()

    (before, after), (before2, after2) = run(), run()
    assert before == before2 and after == after2 and before != after
    assert before.keys() == after.keys()


def test_heavy_tailed_population() -> None:
    world = heavy_tailed_population(2000, seed=11, total_repos=40_000)
    sizes = sorted(len(o.repo_ids) for o in world.owners.values())
    public = len(world.truth())
    assert len(world.owners) == 2000
    assert 30_000 < public < 50_000
    assert sizes[len(sizes) // 2] <= 10  # most owners are small
    assert sizes[-1] >= 1000  # a few own thousands
    kinds = {o.kind for o in world.owners.values()}
    assert kinds == {"User", "Organization"}
    assert any(o.collaborator_repo_ids for o in world.owners.values())
    again = heavy_tailed_population(2000, seed=11, total_repos=40_000)
    assert again.truth() == world.truth()


# -- transport -------------------------------------------------------------------------


async def test_serve_on_loopback_and_control_endpoints(fake: FakeGitHub, world: World) -> None:
    async with serve(fake) as url, httpx.AsyncClient() as client:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/graphql")
        base = url.removesuffix("/graphql")
        for path in ("/graphql", "/api/graphql"):
            response = await client.post(
                base + path, json={"query": QUERY}, headers={"Authorization": "bearer t2"}
            )
            assert response.json()["data"]["user"] == {"login": "bob"}
        truth = (await client.get(f"{base}/_fake/truth")).json()
        assert {int(k): tuple(v) for k, v in truth["repos"].items()} == world.truth()
        assert (await client.post(f"{base}/_fake/advance_day")).json() == {"day": 1}
        await client.post(f"{base}/_fake/faults", json={"kind": "504", "count": 2})
        statuses = [
            (
                await client.post(
                    url, json={"query": QUERY}, headers={"Authorization": "bearer t1"}
                )
            ).status_code
            for _ in range(3)
        ]
        assert statuses == [504, 504, 200]
        bad = await client.post(f"{base}/_fake/faults", json={"kind": "meteor"})
        assert bad.status_code == 422
        stats = (await client.get(f"{base}/_fake/stats")).json()
        assert stats["requests"] == 5 and stats["points"]["t2"] == 2


def test_serve_in_thread(world: World) -> None:
    with serve_in_thread(world) as url:
        response = httpx.post(url, json={"query": QUERY}, headers={"Authorization": "bearer token"})
        assert response.json()["data"]["user"] == {"login": "bob"}


def test_standalone_cli() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakegithub",
            "--port",
            str(port),
            "--owners",
            "20",
            "--seed",
            "1",
            "--latency-ms",
            "1",
            "--tokens",
            "a,b",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                owners = httpx.get(f"{base}/_fake/owners").json()["owners"]
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
        assert len(owners) == 20
        login = owners[0]["login"]
        response = httpx.post(
            f"{base}/graphql",
            headers={"Authorization": "bearer b"},
            json={"query": RESOLVE, "variables": {"l0": login, "l1": login}},
        )
        assert response.json()["data"]["l0"]["databaseId"] == owners[0]["databaseId"]
        truth = httpx.get(f"{base}/_fake/truth").json()["repos"]
        assert json.dumps(truth)
    finally:
        process.terminate()
        process.communicate(timeout=10)
