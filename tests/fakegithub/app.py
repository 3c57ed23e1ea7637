"""The ASGI app: ``POST /graphql`` (and ``/api/graphql``) plus a small control API.

The control endpoints under ``/_fake/`` let a process that cannot import the world (a
docker smoke test, a benchmark driving a standalone fake) move time forward, inject
faults and read the ground truth to compare a harvest against.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .faults import fault_from_spec
from .service import FakeGitHub


def create_app(fake: FakeGitHub, *, control: bool = True) -> Starlette:
    """An ASGI app serving ``fake``; ``control`` adds the ``/_fake/`` endpoints."""

    async def graphql(request: Request) -> Response:
        reply = await fake.handle(request.headers.get("authorization"), await request.body())
        return Response(
            reply.encoded(),
            status_code=reply.status,
            headers=reply.headers,
            media_type=reply.content_type,
        )

    async def truth(request: Request) -> Response:
        logins = request.query_params.get("owners")
        owners = None
        if logins:  # unknown logins are ignored, like a tracked owner that disappeared
            owners = [o for o in logins.split(",") if fake.world.find_login(o) is not None]
        data = fake.world.truth(owners)
        return JSONResponse(
            {
                "day": fake.world.day,
                "repos": {str(k): list(v) for k, v in sorted(data.items())},
            }
        )

    async def advance_day(_request: Request) -> Response:
        fake.world.advance_day()
        return JSONResponse({"day": fake.world.day})

    async def owners(_request: Request) -> Response:
        with fake.world.lock:
            rows = [
                {
                    "databaseId": o.database_id,
                    "id": o.node_id,
                    "login": o.login,
                    "name": o.name,
                    "type": o.kind,
                    "repositories": len(o.repo_ids),
                }
                for o in fake.world.owners.values()
            ]
        return JSONResponse({"owners": rows})

    async def stats(_request: Request) -> Response:
        return JSONResponse(
            {
                "requests": fake.requests,
                "points": fake.points_charged,
                "budgets": {
                    t: {"limit": b.limit, "remaining": b.remaining, "reset": int(b.reset_at)}
                    for t, b in fake.budgets.items()
                },
                "faults_injected": len(fake.faults.injected),
            }
        )

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            fake.faults.clear()
            return JSONResponse({"queued": 0})
        spec: Any = await request.json()
        specs = spec if isinstance(spec, list) else [spec]
        try:
            for item in specs:
                fake.faults.push(*[fault_from_spec(item)] * int(item.get("count", 1)))
        except (TypeError, ValueError) as error:
            return JSONResponse({"message": str(error)}, status_code=422)
        return JSONResponse({"queued": len(fake.faults.queue)})

    async def reset_budget(request: Request) -> Response:
        body: Any = await request.json() if await request.body() else {}
        tokens = [body["token"]] if body.get("token") else list(fake.budgets)
        for token in tokens:
            fake.budget(token).reset()
        return JSONResponse({"reset": tokens})

    routes = [
        Route("/graphql", graphql, methods=["POST"]),
        Route("/api/graphql", graphql, methods=["POST"]),
    ]
    if control:
        routes += [
            Route("/_fake/truth", truth, methods=["GET"]),
            Route("/_fake/owners", owners, methods=["GET"]),
            Route("/_fake/stats", stats, methods=["GET"]),
            Route("/_fake/advance_day", advance_day, methods=["POST"]),
            Route("/_fake/faults", faults, methods=["POST", "DELETE"]),
            Route("/_fake/reset_budget", reset_budget, methods=["POST"]),
        ]
    return Starlette(routes=routes)
