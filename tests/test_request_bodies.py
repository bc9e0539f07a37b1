"""The API's JSON bodies are bounded before they are parsed, checked without a server: too large is a
413, too deep or too many keys a 400 with a short error (the decoder never sees a document nested deep
enough to exhaust the stack), and what is not JSON (NaN, Infinity, bytes that are not UTF-8) is refused.
The whole request path is exercised against the local stack in tests/security/test_request_limits.py."""
from __future__ import annotations

import io

import pytest
from django.test import RequestFactory
from rest_framework.exceptions import ParseError
from rest_framework.request import Request

from saas.parsers import BoundedJSONParser, InputTooDeep, RequestTooLarge, TooManyKeys

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.API_MAX_BODY_BYTES, settings.API_MAX_JSON_DEPTH, settings.API_MAX_JSON_KEYS = 1000, 5, 10


def parse(body: bytes, *, content_length: int | None = None):
    request = Request(RequestFactory().post("/api/v1/products", body, content_type="application/json"))
    if content_length is not None:
        request._request.META["CONTENT_LENGTH"] = str(content_length)
    return BoundedJSONParser().parse(io.BytesIO(body), parser_context={"request": request})


def test_a_body_within_the_limits_is_parsed():
    assert parse(b'{"a": [1, {"b": {"c": "[[[[[[[[not nesting]]]]]]]]"}}]}') == {"a": [1, {"b": {"c": "[[[[[[[[not nesting]]]]]]]]"}}]}


def test_a_body_over_the_size_limit_is_a_413_without_reading_it():
    with pytest.raises(RequestTooLarge) as refused:
        parse(b"{}", content_length=1001)  # the declared length is enough
    assert refused.value.status_code == 413
    with pytest.raises(RequestTooLarge):
        parse(b'{"a": "' + b"x" * 1000 + b'"}')  # and so are the bytes actually sent


def test_nesting_deeper_than_the_limit_is_refused_before_decoding():
    parse(b"[[[[[1]]]]]")  # five levels: the limit
    with pytest.raises(InputTooDeep) as refused:
        parse(b"[" * 6 + b"]" * 6)
    assert refused.value.status_code == 400 and refused.value.default_code == "too_deep"
    with pytest.raises(InputTooDeep):
        parse(b"[" * 900)  # deep enough to matter, cut short long before the decoder


def test_more_keys_than_the_limit_are_refused():
    parse(("{" + ",".join(f'"k{i}": 1' for i in range(10)) + "}").encode())
    with pytest.raises(TooManyKeys):
        parse(("{" + ",".join(f'"k{i}": 1' for i in range(11)) + "}").encode())
    with pytest.raises(TooManyKeys):  # counted over the whole document, not per object
        parse(("[" + ",".join(f'{{"a{i}": 1, "b{i}": 2}}' for i in range(6)) + "]").encode())


@pytest.mark.parametrize("body", [b'{"price": NaN}', b'{"price": Infinity}', b'{"name": "\xff"}', b"", b"  ",
                                  b'{"a": 1'])
def test_what_is_not_json_is_a_400(body):
    with pytest.raises(ParseError):
        parse(body)
