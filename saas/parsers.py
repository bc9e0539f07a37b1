"""The API's JSON parser, with the work a request may cause bounded *before* parsing.

* size: ``Content-Length`` (or, without one, the bytes actually read) above ``API_MAX_BODY_BYTES``
  -> 413 ``request_too_large``; the body is never parsed;
* depth: nesting deeper than ``API_MAX_JSON_DEPTH`` -> 400 ``too_deep`` (found by a linear scan of
  the raw text, so the recursive decoder never sees it and cannot hit ``RecursionError``);
* keys: more than ``API_MAX_JSON_KEYS`` object keys in the whole document -> 400 ``too_many_keys``
  (counted while decoding; decoding stops at the first key over the cap).

Every refusal is a short JSON error from the API's one exception handler.
"""
from __future__ import annotations

import json
import re

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"
    default_detail = "The request body is too large."


class InputTooDeep(exceptions.ParseError):
    default_code = "too_deep"
    default_detail = "The JSON document is nested too deeply."


class TooManyKeys(exceptions.ParseError):
    default_code = "too_many_keys"
    default_detail = "The JSON document has too many keys."


# Strings (with their escapes) are skipped; only brackets outside them count towards the depth.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.S)


def json_depth(text: str, limit: int) -> int:
    """Maximum nesting of ``text`` (stops counting once past ``limit``)."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif token in "]}":
            depth -= 1
    return deepest


def read_bounded(stream, content_length: int | None, limit: int) -> bytes:
    if content_length is not None and content_length > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
    data = stream.read(limit + 1) if stream is not None else b""
    if len(data) > limit:
        raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
    return data


def loads_bounded(raw: bytes, *, max_depth: int, max_keys: int):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise exceptions.ParseError("JSON parse error - the body is not UTF-8.") from exc
    if json_depth(text, max_depth) > max_depth:
        raise InputTooDeep(f"The JSON document is nested deeper than {max_depth} levels.")
    seen = 0

    def count_keys(pairs):
        nonlocal seen
        seen += len(pairs)
        if seen > max_keys:
            raise TooManyKeys(f"The JSON document has more than {max_keys} keys.")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=count_keys, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise exceptions.ParseError(f"JSON parse error - {str(exc)[:200]}") from exc


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        request = (parser_context or {}).get("request")
        length = _content_length(request)
        raw = read_bounded(stream, length, settings.API_MAX_BODY_BYTES)
        if not raw.strip():
            raise exceptions.ParseError("JSON parse error - the body is empty.")
        return loads_bounded(raw, max_depth=settings.API_MAX_JSON_DEPTH, max_keys=settings.API_MAX_JSON_KEYS)


def _content_length(request) -> int | None:
    meta = getattr(getattr(request, "_request", request), "META", {}) if request is not None else {}
    try:
        return int(meta.get("CONTENT_LENGTH") or 0) or None
    except (TypeError, ValueError):
        return None
