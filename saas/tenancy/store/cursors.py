"""Pagination: opaque cursors, signed and bound to tenant + query, and the ``Page`` they come in."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core import signing

from .errors import InvalidCursor

MAX_PAGE = 100
MAX_INDEX_PAGE = 1000  # ``max_page`` for small derived index items read in bulk (the catalogue's word index)

_CURSOR_SALT = "saas.tenancy.cursor"


def encode_cursor(last_key: dict[str, Any], *, tenant: str, query_id: str) -> str:
    return signing.dumps({"t": tenant, "q": query_id, "k": last_key}, salt=_CURSOR_SALT)  # uncompressed: zlib costs more than it saves on a key


def decode_cursor(cursor: str, *, tenant: str, query_id: str) -> dict[str, Any]:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidCursor("cursor is invalid") from exc
    if not isinstance(data, dict) or data.get("t") != tenant or data.get("q") != query_id:
        raise InvalidCursor("cursor does not belong to this query")
    key: dict[str, Any] = data["k"]
    return key


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
