"""Opaque identifiers shaped like GitHub's: node ids and connection cursors.

GitHub's "next" global node ids are ``<prefix>_<base64url(msgpack([0, databaseId]))>``
(``U_kgDOAAjp1w``, ``O_kgDO...``, ``R_kgDO...``).  Clients must treat them as opaque, so
the fake makes them look and decode the same way instead of using something a client
could be tempted to parse (``user-42``).  Cursors are opaque too and carry the sort key,
so pagination is keyset-based and survives repositories appearing or disappearing
between pages, as GitHub's does.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

NODE_PREFIXES = {"User": "U", "Organization": "O", "Repository": "R"}
_CURSOR_PREFIX = b"cursor:v2:"


def _msgpack_uint(value: int) -> bytes:
    """Encode a non-negative int the way msgpack does (GitHub ids are msgpack inside)."""
    if value < 0x80:
        return bytes([value])
    if value <= 0xFF:
        return b"\xcc" + value.to_bytes(1, "big")
    if value <= 0xFFFF:
        return b"\xcd" + value.to_bytes(2, "big")
    if value <= 0xFFFFFFFF:
        return b"\xce" + value.to_bytes(4, "big")
    return b"\xcf" + value.to_bytes(8, "big")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def node_id(type_name: str, database_id: int) -> str:
    """The new-format global id of an object (``X-Github-Next-Global-ID: 1`` style)."""
    packed = b"\x92\x00" + _msgpack_uint(database_id)  # fixarray(2): [0, id]
    return f"{NODE_PREFIXES[type_name]}_{_b64(packed)}"


def encode_cursor(key: list[Any]) -> str:
    """An opaque cursor carrying the sort key of the item it points at."""
    return _b64(_CURSOR_PREFIX + json.dumps(key, separators=(",", ":")).encode())


def decode_cursor(cursor: str) -> list[Any] | None:
    """The sort key inside a cursor, or None when the cursor is not one of ours."""
    try:
        raw = _unb64(cursor)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_CURSOR_PREFIX):
        return None
    try:
        key = json.loads(raw[len(_CURSOR_PREFIX) :])
    except ValueError:
        return None
    return key if isinstance(key, list) else None
