"""Answering a stats request: conditional GET, then a streamed JSON or CSV body.

The JSON body is byte for byte what FastAPI's `JSONResponse` would render for
`{"user": …, "stats": [...]}` (compact separators, UTF-8), written incrementally:
the envelope from Python, the items straight from PostgreSQL (`db.stats.stream_series`).

The ETag hashes the resolved query (target, dates, repo filter, format), the envelope
(login and name change on renames) and the series summary (row count, latest
`scanned_at`): a scan's upsert or a purge changes it, a repeated request does not.
`If-Modified-Since` is not honoured: with a default range that moves every day, the
same URL can change without any newer snapshot, so only the ETag decides a 304.
"""

import hashlib
import json
from collections.abc import AsyncIterator
from email.utils import format_datetime
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.types import Receive, Scope, Send

from db.stats import Series, SeriesSummary, describe_series, stream_series
from web.deps import Media

__all__ = ["CSV_MEDIA_TYPE", "JSON_MEDIA_TYPE", "make_etag", "serve_series"]

JSON_MEDIA_TYPE = "application/json"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def _dumps(value: Any) -> bytes:
    """FastAPI's `JSONResponse.render`."""
    return json.dumps(
        value, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


def make_etag(
    *, key: str, head: dict[str, Any], series: Series, media: Media, summary: SeriesSummary
) -> str:
    last = summary.last_scanned_at.isoformat() if summary.last_scanned_at else "-"
    material = "|".join(
        [
            key,
            json.dumps(head, sort_keys=True),
            series.target,
            str(series.target_id),
            series.date_from.isoformat(),
            series.date_to.isoformat(),
            ",".join(map(str, series.repo_ids)),
            media,
            str(summary.rows),
            last,
        ]
    )
    return '"' + hashlib.sha256(material.encode()).hexdigest()[:32] + '"'


def _matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), as a GET's If-None-Match asks."""
    if if_none_match.strip() == "*":
        return True
    tags = (tag.strip() for tag in if_none_match.split(","))
    return any(tag.removeprefix("W/") == etag for tag in tags)


class _SeriesResponse(StreamingResponse):
    """A streamed body that owns its database connection and always closes it, even
    when the client leaves before the first chunk (then the body never starts)."""

    def __init__(
        self, connection: AsyncConnection, content: AsyncIterator[bytes], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._connection = connection

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._connection.close()


async def _body(
    connection: AsyncConnection, series: Series, media: Media, prefix: bytes, suffix: bytes
) -> AsyncIterator[bytes]:
    if prefix:
        yield prefix
    async for chunk in stream_series(connection, series, media=media):
        yield chunk
    if suffix:
        yield suffix


async def serve_series(
    request: Request,
    engine: AsyncEngine,
    *,
    key: str,
    series: Series,
    media: Media,
    max_age_s: int,
    not_found: str,
) -> Response:
    """404 (`not_found`) for an unknown subject, 304 when the client's ETag still holds,
    else the streamed body. All on one connection, decided before the first byte.

    `key` names the envelope member holding the subject ("user" or "repo").
    """
    connection = await engine.connect()
    try:
        described = await describe_series(connection, series)
    except BaseException:
        await connection.close()
        raise
    if described is None:
        await connection.close()
        raise HTTPException(404, not_found)
    head, summary = described
    etag = make_etag(key=key, head=head, series=series, media=media, summary=summary)
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age_s}", "Vary": "Accept"}
    if summary.last_scanned_at is not None:
        headers["Last-Modified"] = format_datetime(summary.last_scanned_at, usegmt=True)
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        await connection.close()
        return Response(status_code=304, headers=headers)
    if media == "csv":
        prefix, suffix, media_type = b"", b"", CSV_MEDIA_TYPE
    else:
        prefix = b'{"' + key.encode() + b'":' + _dumps(head) + b',"stats":['
        suffix, media_type = b"]}", JSON_MEDIA_TYPE
    return _SeriesResponse(
        connection,
        _body(connection, series, media, prefix, suffix),
        media_type=media_type,
        headers=headers,
    )
