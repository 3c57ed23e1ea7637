"""The FastAPI app: `uvicorn web.app:app --port 5000`.

`create_app()` builds an app whose lifespan opens the engine (`DATABASE_URL`) and a
Redis client (`REDIS_URL`) and closes them at shut-down. Tests pass their own `engine`
and `redis`: the app then uses them as they are, needs no lifespan (httpx's
`ASGITransport` runs none) and closes nothing.

The API is read-only: only GET routes exist, and the engine the app opens itself puts
every PostgreSQL session in `default_transaction_read_only`, so a write could not slip
through even by mistake.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from db.settings import get_database_settings
from web.metrics import HttpMetrics, MetricsMiddleware
from web.routes import health, metrics, repos, scans, users
from web.settings import WebSettings, get_web_settings

__all__ = ["app", "create_app"]

DESCRIPTION = """Daily stargazers, forks and watchers of the public repositories of the
GitHub owners starledger tracks. Read-only; data changes once a day (responses carry an
`ETag` and `Cache-Control: public, max-age=300`; send `If-None-Match` for a 304).

Errors use FastAPI's shapes: 404 `{"detail": "..."}`, 422 `{"detail": [{"loc", "msg",
"type", ...}]}` (malformed date, `date_from > date_to`, range over `STATS_MAX_DAYS`,
unknown `format`, ids that are not positive 64-bit integers)."""


def _read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.run_async(
        lambda connection: connection.execute(
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY"
        )
    )


def open_read_only_engine(settings: WebSettings) -> AsyncEngine:
    """Like `db.engine.create_engine`, but without `pool_pre_ping`: on asyncpg a ping is
    three round trips (BEGIN, `;`, ROLLBACK) per checkout, a third of a small request.
    After a PostgreSQL restart the first request on a dead connection fails and
    SQLAlchemy then drops the whole pool; a request is retried more cheaply than every
    request is pinged."""
    engine = create_async_engine(
        get_database_settings().DATABASE_URL,
        pool_size=settings.DB_POOL_SIZE,
        max_overflow=settings.DB_POOL_SIZE,
        pool_recycle=3600,
    )
    event.listen(engine.sync_engine, "connect", _read_only)
    return engine


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: WebSettings = app.state.settings
    own_engine = app.state.engine is None
    own_redis = app.state.redis is None
    if own_engine:
        app.state.engine = open_read_only_engine(settings)
    if own_redis:
        app.state.redis = Redis.from_url(settings.REDIS_URL)
    try:
        yield
    finally:
        if own_redis:
            await app.state.redis.aclose()
            app.state.redis = None
        if own_engine:
            await app.state.engine.dispose()
            app.state.engine = None


def create_app(
    *,
    settings: WebSettings | None = None,
    engine: AsyncEngine | None = None,
    redis: Redis | None = None,
) -> FastAPI:
    """Build the API. Given `engine`/`redis` are used as they are and never closed."""
    settings = settings or get_web_settings()
    app = FastAPI(
        title="starledger",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.redis = redis
    app.state.metrics = HttpMetrics()
    for module in (users, repos, scans, health, metrics):
        app.include_router(module.router)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD"],
            allow_headers=["If-None-Match", "Accept"],
            expose_headers=["ETag", "Last-Modified"],
            max_age=3600,
        )
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    return app


app = create_app()
