"""GET /v1/users/{id}/stats: the contract in design.md, byte for byte."""

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import add_owner, add_repository, add_series, add_snapshots, build_app

ALLIEN = 1428904
REPO = 7329078


@pytest.fixture
async def client(db: AsyncEngine, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(db, redis, STATS_MAX_DAYS=400)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


@pytest.fixture
async def allien(db: AsyncEngine) -> None:
    await add_owner(db, id=ALLIEN, login="allien", name="Allien Delon")
    await add_repository(db, id=REPO, owner_id=ALLIEN, owner_login="allien")


def item(repo_id: int, day: str, stargazers: int, forks: int, watchers: int) -> dict[str, Any]:
    return {
        "repo_id": repo_id,
        "date": day,
        "stargazers": stargazers,
        "forks": forks,
        "watchers": watchers,
    }


class TestContract:
    async def test_design_example_exactly(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_snapshots(
            db,
            [
                {
                    "repo_id": REPO,
                    "day": date(2022, 6, 10),
                    "owner_id": ALLIEN,
                    "stargazers": 42,
                    "forks": 9,
                    "watchers": 14,
                },
                {
                    "repo_id": REPO,
                    "day": date(2022, 6, 11),
                    "owner_id": ALLIEN,
                    "stargazers": 56,
                    "forks": 10,
                    "watchers": 15,
                },
            ],
        )
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2022-06-10", "date_to": "2022-06-11"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        expected = {
            "user": {"id": ALLIEN, "login": "allien", "name": "Allien Delon"},
            "stats": [item(REPO, "2022-06-10", 42, 9, 14), item(REPO, "2022-06-11", 56, 10, 15)],
        }
        assert response.json() == expected
        # The same bytes FastAPI's JSONResponse renders, key order included.
        assert (
            response.content
            == json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
        )

    async def test_null_name_and_no_snapshots(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=5, login="nameless")
        response = await client.get("/v1/users/5/stats")
        assert response.status_code == 200
        assert response.content == b'{"user":{"id":5,"login":"nameless","name":null},"stats":[]}'

    async def test_unicode_name(self, db: AsyncEngine, client: httpx.AsyncClient) -> None:
        await add_owner(db, id=6, login="zoe", name='Zoé "Z" \\ 東')
        response = await client.get("/v1/users/6/stats")
        assert response.json()["user"]["name"] == 'Zoé "Z" \\ 東'

    async def test_default_range_is_30_days_ending_today(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        # TODAY is 2024-06-30: the default range is 2024-06-01 … 2024-06-30.
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 5, 25), count=40)
        response = await client.get(f"/v1/users/{ALLIEN}/stats")
        dates = [entry["date"] for entry in response.json()["stats"]]
        assert dates[0] == "2024-06-01"
        assert dates[-1] == "2024-06-30"
        assert len(dates) == 30

    async def test_default_date_from_follows_date_to(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 1, 1), count=60)
        response = await client.get(f"/v1/users/{ALLIEN}/stats", params={"date_to": "2024-02-10"})
        dates = [entry["date"] for entry in response.json()["stats"]]
        assert (dates[0], dates[-1], len(dates)) == ("2024-01-12", "2024-02-10", 30)

    async def test_bounds_are_inclusive(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 3, 1), count=10)
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2024-03-03", "date_to": "2024-03-05"}
        )
        assert [entry["date"] for entry in response.json()["stats"]] == [
            "2024-03-03",
            "2024-03-04",
            "2024-03-05",
        ]
        single = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2024-03-04", "date_to": "2024-03-04"}
        )
        assert [entry["date"] for entry in single.json()["stats"]] == ["2024-03-04"]

    async def test_ordered_by_repo_then_date_with_gaps(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_repository(db, id=11, owner_id=ALLIEN)
        await add_repository(db, id=99_999_999_999, owner_id=ALLIEN)  # beyond 2^31
        rows = [
            {
                "repo_id": repo,
                "day": day,
                "owner_id": ALLIEN,
                "stargazers": 1,
                "forks": 2,
                "watchers": 3,
            }
            for repo, day in [
                (99_999_999_999, date(2024, 6, 2)),
                (REPO, date(2024, 6, 5)),
                (11, date(2024, 6, 9)),
                (REPO, date(2024, 6, 1)),
                (11, date(2024, 6, 1)),
            ]
        ]
        await add_snapshots(db, rows)
        stats = (await client.get(f"/v1/users/{ALLIEN}/stats")).json()["stats"]
        assert [(entry["repo_id"], entry["date"]) for entry in stats] == [
            (11, "2024-06-01"),
            (11, "2024-06-09"),
            (REPO, "2024-06-01"),
            (REPO, "2024-06-05"),
            (99_999_999_999, "2024-06-02"),
        ]

    async def test_transferred_repository_counts_for_each_owner_on_its_days(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_owner(db, id=2, login="newowner")
        # Owned by allien until 2024-06-10, by newowner from 2024-06-11.
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 6, 1), count=10)
        await add_series(db, repo_id=REPO, owner_id=2, start=date(2024, 6, 11), count=5)
        old = (await client.get(f"/v1/users/{ALLIEN}/stats")).json()["stats"]
        new = (await client.get("/v1/users/2/stats")).json()["stats"]
        assert [entry["date"] for entry in old] == [f"2024-06-{d:02}" for d in range(1, 11)]
        assert [entry["date"] for entry in new] == [f"2024-06-{d:02}" for d in range(11, 16)]

    async def test_untracked_owner_history_is_still_served(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=3, login="gone", tracked=False)
        await add_repository(db, id=30, owner_id=3)
        await add_series(db, repo_id=30, owner_id=3, start=date(2024, 6, 20), count=3)
        response = await client.get("/v1/users/3/stats")
        assert response.status_code == 200
        assert len(response.json()["stats"]) == 3

    async def test_other_owners_snapshots_are_not_included(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_owner(db, id=4, login="other")
        await add_repository(db, id=40, owner_id=4)
        await add_series(db, repo_id=40, owner_id=4, start=date(2024, 6, 20), count=3)
        assert (await client.get(f"/v1/users/{ALLIEN}/stats")).json()["stats"] == []

    async def test_repo_id_filter_is_repeatable(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        for repo in (1, 2, 3):
            await add_repository(db, id=repo, owner_id=ALLIEN)
            await add_series(db, repo_id=repo, owner_id=ALLIEN, start=date(2024, 6, 29), count=2)
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params=[("repo_id", "3"), ("repo_id", "1")]
        )
        assert [(e["repo_id"], e["date"]) for e in response.json()["stats"]] == [
            (1, "2024-06-29"),
            (1, "2024-06-30"),
            (3, "2024-06-29"),
            (3, "2024-06-30"),
        ]


class TestErrors:
    async def test_never_tracked_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/users/123/stats")
        assert response.status_code == 404
        assert response.json() == {"detail": "owner 123 was never tracked"}

    @pytest.mark.parametrize(
        "params",
        [
            {"date_from": "2024-13-01"},
            {"date_to": "2024-02-30"},
            {"date_from": "abc"},
            {"date_to": ""},
            {"date_from": "2024-1-1"},
            {"date_from": "1700000000"},  # pydantic alone would take a timestamp
            {"date_from": "2024-06-01T00:00:00"},
            {"format": "xml"},
            {"repo_id": "x"},
            {"repo_id": "0"},
        ],
    )
    async def test_malformed_parameters_are_422(
        self, client: httpx.AsyncClient, allien: None, params: dict[str, str]
    ) -> None:
        response = await client.get(f"/v1/users/{ALLIEN}/stats", params=params)
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"][:2] == ["query", next(iter(params))]
        assert {"type", "msg", "loc"} <= set(error)

    async def test_date_from_after_date_to_is_422(
        self, client: httpx.AsyncClient, allien: None
    ) -> None:
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2024-06-02", "date_to": "2024-06-01"}
        )
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "date_from"]
        assert "after date_to" in response.json()["detail"][0]["msg"]

    async def test_range_beyond_maximum_is_422(
        self, client: httpx.AsyncClient, allien: None
    ) -> None:
        # This client's STATS_MAX_DAYS is 400.
        ok = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2023-01-01", "date_to": "2024-02-04"}
        )
        assert ok.status_code == 200  # 400 days
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2023-01-01", "date_to": "2024-02-05"}
        )
        assert response.status_code == 422
        assert "at most 400 days" in response.json()["detail"][0]["msg"]

    async def test_default_range_before_year_one_is_422(
        self, client: httpx.AsyncClient, allien: None
    ) -> None:
        response = await client.get(f"/v1/users/{ALLIEN}/stats", params={"date_to": "0001-01-05"})
        assert response.status_code == 422

    @pytest.mark.parametrize("owner_id", ["abc", "1.5", "0", "-3", str(2**63)])
    async def test_bad_id_is_422(self, client: httpx.AsyncClient, owner_id: str) -> None:
        response = await client.get(f"/v1/users/{owner_id}/stats")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["path", "id"]

    async def test_422_wins_over_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/users/1/stats", params={"date_from": "nope"})
        assert response.status_code == 422


class TestCsv:
    async def test_format_csv(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 6, 29), count=2)
        response = await client.get(f"/v1/users/{ALLIEN}/stats", params={"format": "csv"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.text == (
            "repo_id,date,stargazers,forks,watchers\n"
            f"{REPO},2024-06-29,10,0,0\n{REPO},2024-06-30,11,1,2\n"
        )

    async def test_accept_header(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 6, 1), count=30)
        response = await client.get(f"/v1/users/{ALLIEN}/stats", headers={"Accept": "text/csv"})
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert len(rows) == 30
        assert rows[0] == {
            "repo_id": str(REPO),
            "date": "2024-06-01",
            "stargazers": "10",
            "forks": "0",
            "watchers": "0",
        }

    @pytest.mark.parametrize(
        ("accept", "media"),
        [
            ("*/*", "application/json"),
            ("application/json, text/csv", "application/json"),
            ("text/csv;q=0.5, application/json;q=0.9", "application/json"),
            ("text/csv, */*;q=0.1", "text/csv; charset=utf-8"),
            ("text/html", "application/json"),
        ],
    )
    async def test_negotiation(
        self, client: httpx.AsyncClient, allien: None, accept: str, media: str
    ) -> None:
        response = await client.get(f"/v1/users/{ALLIEN}/stats", headers={"Accept": accept})
        assert response.headers["content-type"] == media

    async def test_format_json_overrides_accept(
        self, client: httpx.AsyncClient, allien: None
    ) -> None:
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"format": "json"}, headers={"Accept": "text/csv"}
        )
        assert response.headers["content-type"] == "application/json"


class TestCaching:
    async def test_etag_and_304(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        scanned = datetime(2024, 6, 30, 3, 0, 5, tzinfo=UTC)
        await add_snapshots(
            db,
            [
                {
                    "repo_id": REPO,
                    "day": date(2024, 6, 30),
                    "owner_id": ALLIEN,
                    "stargazers": 1,
                    "forks": 1,
                    "watchers": 1,
                    "scanned_at": scanned,
                }
            ],
        )
        first = await client.get(f"/v1/users/{ALLIEN}/stats")
        etag = first.headers["etag"]
        assert etag.startswith('"')
        assert first.headers["cache-control"] == "public, max-age=300"
        assert first.headers["last-modified"] == "Sun, 30 Jun 2024 03:00:05 GMT"
        again = await client.get(f"/v1/users/{ALLIEN}/stats", headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        weak = await client.get(
            f"/v1/users/{ALLIEN}/stats", headers={"If-None-Match": f'"other", W/{etag}'}
        )
        assert weak.status_code == 304
        star = await client.get(f"/v1/users/{ALLIEN}/stats", headers={"If-None-Match": "*"})
        assert star.status_code == 304
        stale = await client.get(f"/v1/users/{ALLIEN}/stats", headers={"If-None-Match": '"x"'})
        assert stale.status_code == 200

    async def test_etag_changes_with_data_query_and_format(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        url = f"/v1/users/{ALLIEN}/stats"
        await add_series(db, repo_id=REPO, owner_id=ALLIEN, start=date(2024, 6, 28), count=2)
        base = (await client.get(url)).headers["etag"]
        assert (await client.get(url)).headers["etag"] == base
        assert (await client.get(url, params={"format": "csv"})).headers["etag"] != base
        assert (await client.get(url, params={"date_to": "2024-06-29"})).headers["etag"] != base
        # A scan's upsert of today's values moves scanned_at.
        async with db.begin() as connection:
            await connection.execute(
                text(
                    "UPDATE snapshots SET stargazers = 99, scanned_at = now()"
                    " WHERE day = '2024-06-29'"
                )
            )
        updated = await client.get(url, headers={"If-None-Match": base})
        assert updated.status_code == 200
        assert updated.headers["etag"] != base
        # A new day's snapshot.
        await add_snapshots(
            db,
            [
                {
                    "repo_id": REPO,
                    "day": date(2024, 6, 30),
                    "owner_id": ALLIEN,
                    "stargazers": 1,
                    "forks": 1,
                    "watchers": 1,
                }
            ],
        )
        assert (await client.get(url)).headers["etag"] != updated.headers["etag"]
        # A rename changes the envelope.
        before = (await client.get(url)).headers["etag"]
        async with db.begin() as connection:
            await connection.execute(text("UPDATE owners SET login = 'allien2'"))
        assert (await client.get(url)).headers["etag"] != before


class TestLargeSeries:
    async def test_many_rows_stream_in_order(
        self, db: AsyncEngine, client: httpx.AsyncClient, allien: None
    ) -> None:
        """Enough rows to span many COPY chunks: items must join without loss or doubling."""
        for repo in range(100, 140):
            await add_repository(db, id=repo, owner_id=ALLIEN)
            await add_series(db, repo_id=repo, owner_id=ALLIEN, start=date(2024, 1, 1), count=182)
        response = await client.get(
            f"/v1/users/{ALLIEN}/stats", params={"date_from": "2024-01-01", "date_to": "2024-06-30"}
        )
        stats = response.json()["stats"]
        assert len(stats) == 40 * 182
        keys = [(entry["repo_id"], entry["date"]) for entry in stats]
        assert keys == sorted(keys)
        assert len(set(keys)) == len(keys)
