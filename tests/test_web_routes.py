"""The other routes: owners, repositories, scans, health, metrics, CORS, the app itself."""

import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.factories import add_owner, add_repository, add_scan_run, add_series, build_app
from web.schemas import DESIGN_EXAMPLE


@pytest.fixture
async def client(db: AsyncEngine, redis: Redis) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(db, redis)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as client:
        yield client


class TestUsers:
    async def test_lists_tracked_owners_by_id(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=3, login="Carol", name="C")
        await add_owner(db, id=1, login="alice", kind="Organization")
        await add_owner(db, id=2, login="bob", tracked=False)
        body = (await client.get("/v1/users")).json()
        assert [user["id"] for user in body["users"]] == [1, 3]
        assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
        assert set(body["users"][0]) == {
            "id",
            "login",
            "name",
            "kind",
            "tracked",
            "repo_count",
            "tracked_at",
            "untracked_at",
            "last_scanned_on",
            "gone_on",
        }
        assert body["users"][0]["kind"] == "Organization"
        everyone = (await client.get("/v1/users", params={"include_untracked": "true"})).json()
        assert [user["id"] for user in everyone["users"]] == [1, 2, 3]

    async def test_pagination(self, db: AsyncEngine, client: httpx.AsyncClient) -> None:
        for owner in range(1, 6):
            await add_owner(db, id=owner, login=f"o{owner}")
        page = (await client.get("/v1/users", params={"limit": 2, "offset": 2})).json()
        assert [user["id"] for user in page["users"]] == [3, 4]
        assert page["total"] == 5
        past = (await client.get("/v1/users", params={"limit": 2, "offset": 10})).json()
        assert (past["users"], past["total"]) == ([], 5)

    async def test_login_filter_is_case_insensitive(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=1, login="Allien")
        await add_owner(db, id=2, login="allien-two")
        body = (await client.get("/v1/users", params={"login": "ALLIEN"})).json()
        assert [user["id"] for user in body["users"]] == [1]

    @pytest.mark.parametrize(
        "params", [{"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"limit": "x"}]
    )
    async def test_bad_paging_is_422(
        self, client: httpx.AsyncClient, params: dict[str, str]
    ) -> None:
        assert (await client.get("/v1/users", params=params)).status_code == 422

    async def test_one_owner_with_repositories_and_latest_counts(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=1, login="alice", name="Alice")
        await add_repository(db, id=20, owner_id=1, owner_login="alice")
        await add_repository(db, id=10, owner_id=1, owner_login="alice")
        await add_series(db, repo_id=10, owner_id=1, start=date(2024, 6, 1), count=3)
        body = (await client.get("/v1/users/1")).json()
        assert body["user"]["login"] == "alice"
        assert [repo["id"] for repo in body["repositories"]] == [10, 20]
        assert body["repositories"][0]["latest"] == {
            "date": "2024-06-03",
            "stargazers": 12,
            "forks": 2,
            "watchers": 4,
        }
        assert body["repositories"][0]["name_with_owner"] == "alice/repo10"
        assert body["repositories"][1]["latest"] is None

    async def test_untracked_owner_is_served(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=1, login="alice", tracked=False)
        body = (await client.get("/v1/users/1")).json()
        assert body["user"]["tracked"] is False

    async def test_unknown_owner_is_404(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/users/77")
        assert response.status_code == 404
        assert response.json() == {"detail": "owner 77 was never tracked"}

    async def test_bad_owner_id_is_422(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/users/abc")).status_code == 422


class TestRepoStats:
    async def test_series_across_owners(self, db: AsyncEngine, client: httpx.AsyncClient) -> None:
        await add_owner(db, id=1, login="old")
        await add_owner(db, id=2, login="new")
        await add_repository(db, id=10, owner_id=2, owner_login="new", name="thing")
        await add_series(db, repo_id=10, owner_id=1, start=date(2024, 6, 25), count=3)
        await add_series(db, repo_id=10, owner_id=2, start=date(2024, 6, 28), count=3)
        response = await client.get("/v1/repos/10/stats")
        body = response.json()
        assert body["repo"] == {"id": 10, "owner_id": 2, "name_with_owner": "new/thing"}
        assert [entry["date"] for entry in body["stats"]] == [
            f"2024-06-{day}" for day in range(25, 31)
        ]
        assert set(body["stats"][0]) == {"repo_id", "date", "stargazers", "forks", "watchers"}
        assert "etag" in response.headers

    async def test_date_rules_and_csv(self, db: AsyncEngine, client: httpx.AsyncClient) -> None:
        await add_owner(db, id=1, login="old")
        await add_repository(db, id=10, owner_id=1)
        await add_series(db, repo_id=10, owner_id=1, start=date(2024, 6, 1), count=5)
        csv = await client.get(
            "/v1/repos/10/stats",
            params={"date_from": "2024-06-02", "date_to": "2024-06-03", "format": "csv"},
        )
        assert csv.text == (
            "repo_id,date,stargazers,forks,watchers\n10,2024-06-02,11,1,2\n10,2024-06-03,12,2,4\n"
        )
        bad = await client.get(
            "/v1/repos/10/stats", params={"date_from": "2024-06-03", "date_to": "2024-06-02"}
        )
        assert bad.status_code == 422
        etag = csv.headers["etag"]
        again = await client.get(
            "/v1/repos/10/stats",
            params={"date_from": "2024-06-02", "date_to": "2024-06-03", "format": "csv"},
            headers={"If-None-Match": etag},
        )
        assert again.status_code == 304

    async def test_unknown_repository_is_404(self, client: httpx.AsyncClient) -> None:
        assert (await client.get("/v1/repos/5/stats")).status_code == 404
        assert (await client.get("/v1/repos/x/stats")).status_code == 422


class TestScans:
    async def test_recent_first_with_every_field(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        now = datetime.now(UTC)
        await add_scan_run(
            db,
            day=date(2024, 6, 29),
            finished_at=now - timedelta(days=1),
            owners=2,
            repositories=30,
            snapshots=30,
            requests=3,
            points=3,
            waits=1,
            wait_s=1.5,
            errors=1,
            reasons=["NOT_FOUND"],
        )
        await add_scan_run(db, day=date(2024, 6, 30), status="running", finished_at=now)
        body = (await client.get("/v1/scans")).json()
        assert [scan["day"] for scan in body["scans"]] == ["2024-06-30", "2024-06-29"]
        older = body["scans"][1]
        assert set(older) == {
            "id",
            "day",
            "trigger",
            "status",
            "started_at",
            "finished_at",
            "owners",
            "repositories",
            "snapshots",
            "requests",
            "points",
            "waits",
            "wait_s",
            "errors",
            "reasons",
        }
        assert (older["snapshots"], older["wait_s"], older["reasons"]) == (30, 1.5, ["NOT_FOUND"])
        assert body["scans"][0]["finished_at"] is None
        limited = (await client.get("/v1/scans", params={"limit": 1})).json()
        assert len(limited["scans"]) == 1


class TestHealth:
    async def test_healthy_after_a_recent_scan(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_scan_run(db, day=date.today(), finished_at=datetime.now(UTC) - timedelta(hours=2))
        response = await client.get("/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["database"]["ok"] and body["redis"]["ok"]
        assert 7000 < body["last_scan"]["age_s"] < 7400

    async def test_unhealthy_without_scan(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["problems"] == ["no successful scan yet"]

    async def test_unhealthy_when_last_success_is_stale(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_scan_run(
            db, day=date(2024, 1, 1), finished_at=datetime.now(UTC) - timedelta(hours=27)
        )
        # A newer failed scan does not count.
        await add_scan_run(
            db,
            day=date(2024, 1, 2),
            status="failed",
            finished_at=datetime.now(UTC) - timedelta(hours=1),
        )
        response = await client.get("/healthz")
        assert response.status_code == 503
        assert "h old" in response.json()["problems"][0]

    async def test_unhealthy_when_redis_is_down(self, db: AsyncEngine) -> None:
        await add_scan_run(db, day=date.today())
        dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
        app = build_app(db, dead)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await client.get("/healthz")
        await dead.aclose()
        assert response.status_code == 503
        body = response.json()
        assert body["redis"]["ok"] is False
        assert body["problems"] == ["redis unreachable"]


class TestMetrics:
    async def test_requests_by_route_template_and_scan_figures(
        self, db: AsyncEngine, client: httpx.AsyncClient
    ) -> None:
        await add_owner(db, id=1, login="alice")
        await add_scan_run(db, day=date(2024, 6, 29), snapshots=30, points=4, requests=2)
        await add_scan_run(
            db, day=date(2024, 6, 30), snapshots=12, points=1, requests=1, status="partial"
        )
        await client.get("/v1/users/1/stats")
        await client.get("/v1/users/2/stats")
        await client.get("/nowhere")
        response = await client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = response.text
        assert (
            'starledger_http_requests_total{method="GET",route="/v1/users/{id}/stats",'
            'status="200"} 1.0'
        ) in text
        assert 'route="/v1/users/{id}/stats",status="404"} 1.0' in text
        assert 'route="unmatched",status="404"} 1.0' in text
        assert 'starledger_http_request_duration_seconds_bucket{le="0.005",method="GET"' in text
        assert "starledger_scan_snapshots_total 42.0" in text
        assert "starledger_scan_points_total 5.0" in text
        assert 'starledger_last_scan_status{status="partial"} 1.0' in text
        assert "starledger_last_successful_scan_timestamp_seconds " in text


class TestApp:
    @pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
    async def test_no_write_routes(self, client: httpx.AsyncClient, method: str) -> None:
        for path in ("/v1/users", "/v1/users/1", "/v1/users/1/stats", "/v1/scans"):
            response = await client.request(method, path)
            assert response.status_code == 405
            assert response.json() == {"detail": "Method Not Allowed"}

    async def test_only_get_in_openapi(self, client: httpx.AsyncClient) -> None:
        spec = (await client.get("/openapi.json")).json()
        methods = {method for operations in spec["paths"].values() for method in operations}
        assert methods == {"get"}
        stats = spec["paths"]["/v1/users/{id}/stats"]["get"]
        assert stats["responses"]["200"]["content"]["application/json"]["example"] == DESIGN_EXAMPLE
        assert "text/csv" in stats["responses"]["200"]["content"]
        assert {"404", "422", "304"} <= set(stats["responses"])

    async def test_unknown_path_is_404_in_fastapi_shape(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v2/whatever")
        assert response.status_code == 404
        assert response.json() == {"detail": "Not Found"}

    async def test_cors_closed_by_default(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/v1/users", headers={"Origin": "https://example.com"})
        assert "access-control-allow-origin" not in response.headers
        preflight = await client.options(
            "/v1/users",
            headers={"Origin": "https://example.com", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers

    async def test_cors_open_when_configured(self, db: AsyncEngine, redis: Redis) -> None:
        app = build_app(db, redis, CORS_ORIGINS="https://a.example, https://b.example")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            response = await client.get("/v1/users", headers={"Origin": "https://b.example"})
            other = await client.get("/v1/users", headers={"Origin": "https://evil.example"})
        assert response.headers["access-control-allow-origin"] == "https://b.example"
        assert "etag" in response.headers["access-control-expose-headers"].lower()
        assert "access-control-allow-origin" not in other.headers

    async def test_lifespan_opens_and_closes_its_own_connections(
        self, migrated_database: str
    ) -> None:
        from web.app import create_app
        from web.settings import WebSettings

        app = create_app(settings=WebSettings(REDIS_URL=os.environ["REDIS_URL"]))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"
            ) as client:
                assert (await client.get("/v1/users")).status_code == 200
                assert (await client.get("/healthz")).json()["database"]["ok"] is True
            # The engine it opened refuses writes.
            from sqlalchemy import text
            from sqlalchemy.exc import DBAPIError

            with pytest.raises(DBAPIError, match="read-only"):
                async with app.state.engine.begin() as connection:
                    await connection.execute(text("DELETE FROM owners"))
        assert app.state.engine is None
