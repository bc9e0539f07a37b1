"""Pagination cursors: a client gets back the page after the one it was given, and nothing else. A
cursor is signed and bound to the tenant and the query that issued it, so a client cannot edit one to
start reading inside another tenant's partition, replay one in another tenant, or carry one to
another query; every such cursor is a 400 on the ``cursor`` field, before any read."""
from __future__ import annotations

import json

import pytest
from django.core import signing
from django.test import RequestFactory
from rest_framework.views import APIView

from saas.exceptions import exception_handler
from saas.tenancy.store import InvalidCursor
from saas.tenancy.store.cursors import decode_cursor, encode_cursor

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

LAST_KEY = {"PK": "TENANT#acme-shop#ORDER", "SK": "0001733000000000a1b2c3d4e5f60718"}
QUERY = "5f0c2a9d41b7e3c8"  # a query id: a hash of table, entity, index, order and filter


def issued(key: dict = LAST_KEY, *, tenant: str = "acme-shop", query_id: str = QUERY) -> str:
    return encode_cursor(key, tenant=tenant, query_id=query_id)


def test_a_cursor_brings_back_the_key_it_was_issued_for():
    assert decode_cursor(issued(), tenant="acme-shop", query_id=QUERY) == LAST_KEY


def test_a_cursor_issued_to_one_tenant_is_refused_in_another():
    with pytest.raises(InvalidCursor):
        decode_cursor(issued(), tenant="rival-shop", query_id=QUERY)


def test_a_cursor_of_one_query_is_refused_by_another():
    """E.g. a member's "my orders" cursor presented to the list of everyone's orders."""
    with pytest.raises(InvalidCursor):
        decode_cursor(issued(), tenant="acme-shop", query_id="0000000000000000")


def forged(cursor: str, **changes) -> str:
    """The attacker's edit: decode the readable payload, change it, put the old signature back."""
    payload, signed = cursor.split(":", 1)  # payload:timestamp:signature
    data = json.loads(signing.b64_decode(payload.encode()))
    assert data["t"] == "acme-shop" and data["k"] == LAST_KEY  # what the attacker reads (signed, not secret)
    data.update(changes)
    return f"{signing.b64_encode(json.dumps(data, separators=(',', ':')).encode()).decode()}:{signed}"


def test_an_unedited_cursor_passes_through_the_forger():
    """The control for the test below: re-encoding without a change keeps a cursor valid, so what is
    refused there is the edit."""
    assert decode_cursor(forged(issued()), tenant="acme-shop", query_id=QUERY) == LAST_KEY


@pytest.mark.parametrize("changes", [
    {"t": "rival-shop"},  # claim another tenant's partition
    {"k": {"PK": "TENANT#rival-shop#ORDER", "SK": "0"}},  # start reading inside another tenant's partition
    {"k": {"PK": "TENANT#acme-shop#ORDER", "SK": "0"}},  # skip to another place in one's own list
    {"q": "0000000000000000"},  # re-bind to another query
])
def test_an_edited_cursor_is_refused(changes):
    tenant = changes.get("t", "acme-shop")
    query_id = changes.get("q", QUERY)
    with pytest.raises(InvalidCursor):
        decode_cursor(forged(issued(), **changes), tenant=tenant, query_id=query_id)


def test_a_cursor_signed_by_another_deployment_is_refused(settings):
    settings.SECRET_KEY = "another-deployment-" + "x" * 40
    foreign = issued()
    settings.SECRET_KEY = "this-deployment-" + "y" * 40
    with pytest.raises(InvalidCursor):
        decode_cursor(foreign, tenant="acme-shop", query_id=QUERY)


@pytest.mark.parametrize("make", [
    lambda: "", lambda: "abc", lambda: "abc:def", lambda: ":", lambda: "x" * 5000,
    lambda: issued()[:-1],  # truncated
    lambda: issued() + "A",  # extended
    lambda: issued().rsplit(":", 1)[0],  # the signature cut off
], ids=["empty", "word", "two-words", "colon", "long", "truncated", "extended", "unsigned"])
def test_garbage_is_refused_as_an_invalid_cursor(make):
    with pytest.raises(InvalidCursor):
        decode_cursor(make(), tenant="acme-shop", query_id=QUERY)


def test_a_refused_cursor_is_a_400_naming_the_cursor_field():
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(forged(issued(), t="rival-shop"), tenant="rival-shop", query_id=QUERY)
    request = APIView().initialize_request(RequestFactory().get("/api/v1/orders", {"cursor": "..."}))
    response = exception_handler(refused.value, {"request": request, "view": APIView()})
    assert response.status_code == 400
    assert response.data == {"code": "invalid", "message": "Invalid input.", "fields": {"cursor": ["Invalid cursor."]}}
