"""The core's pieces that need no server: the error model and its API rendering, the cache primitive."""
from __future__ import annotations

import pytest
from django.test import RequestFactory
from rest_framework.views import APIView

from saas import errors
from saas.cache import TTLCache
from saas.exceptions import exception_handler
from saas.tenancy import store
from saas.tenancy.context import NoTenantContext

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"


def render(exc: Exception):
    request = APIView().initialize_request(RequestFactory().get("/api/v1/x"))
    return exception_handler(exc, {"request": request, "view": APIView()})


@pytest.mark.parametrize("exc, status, body", [
    (errors.InvalidInput(fields={"sku": ["Required."]}), 400,
     {"code": "invalid", "message": "Invalid input.", "fields": {"sku": ["Required."]}}),
    (errors.NotFound(), 404, {"code": "not_found", "message": "Not found."}),
    (errors.Conflict("Not enough stock.", "insufficient_stock", extra={"lines": [{"index": 0}]}), 409,
     {"code": "insufficient_stock", "message": "Not enough stock.", "lines": [{"index": 0}]}),
    (errors.PreconditionFailed(), 412,
     {"code": "precondition_failed", "message": "If-Match does not match the current version."}),
    (store.DoesNotExist("PRODUCT not found"), 404, {"code": "not_found", "message": "Not found."}),
    (store.VersionConflict("changed"), 409,
     {"code": "version_conflict", "message": "The item was changed by someone else."}),
    (store.InvalidCursor("bad"), 400,
     {"code": "invalid", "message": "Invalid input.", "fields": {"cursor": ["Invalid cursor."]}}),
    (NoTenantContext("no tenant context is set"), 403, {"code": "no_active_tenant", "message": "No active tenant."}),
])
def test_application_errors_render_as_the_api_error_shape(exc, status, body):
    response = render(exc)
    assert response.status_code == status
    assert response.data == body


def test_a_store_outage_is_a_503_naming_the_dependency_with_retry_after():
    response = render(store.StoreUnavailable("ThrottlingException"))
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.data == {"code": "service_unavailable", "message": "dynamodb is unavailable; try again shortly.",
                             "dependency": "dynamodb"}


def test_internal_detail_stays_in_the_log_text_not_in_the_body():
    exc = store.DoesNotExist("ORDER abc not found in TENANT#t-1")
    assert "TENANT#" in str(exc) and "TENANT#" not in render(exc).data["message"]


def test_throttled_carries_retry_after():
    response = render(errors.Throttled(retry_after=3))
    assert response.status_code == 429 and response["Retry-After"] == "3"


def test_a_bug_is_not_turned_into_a_client_error():
    assert render(KeyError("oops")) is None  # Django's 500 handling and the logs take it


def test_the_cache_expires_entries_after_their_ttl():
    now = [100.0]
    cache: TTLCache[str] = TTLCache(maxsize=10, ttl=5, clock=lambda: now[0])
    loads = []
    assert cache.get_or_load("a", lambda: loads.append(1) or "A") == "A"
    assert cache.get_or_load("a", lambda: loads.append(1) or "B") == "A"
    now[0] += 5.1
    assert cache.get_or_load("a", lambda: loads.append(1) or "C") == "C"
    assert len(loads) == 2


def test_the_cache_is_bounded_and_ttl_may_depend_on_the_value():
    now = [0.0]
    cache: TTLCache[str | None] = TTLCache(maxsize=3, ttl=lambda value: 1 if value is None else 60,
                                           clock=lambda: now[0])
    for key in "abcd":
        cache.set(key, key.upper())
    assert len(cache) == 3 and cache.get("a") is None  # the least recently used went
    cache.set("none", None)
    now[0] += 2
    assert cache.get("none", "expired") == "expired" and cache.get("d") == "D"


def test_dropping_entries_by_value_does_not_deadlock():
    cache: TTLCache[dict] = TTLCache(maxsize=10, ttl=60)
    cache.set("u1", {"tenant": "t-1"})
    cache.set("u2", {"tenant": "t-2"})
    cache.drop(lambda key, value: value["tenant"] == "t-1")
    assert cache.get("u1") is None and cache.get("u2") == {"tenant": "t-2"}


def test_a_failed_load_caches_nothing():
    cache: TTLCache[str] = TTLCache(maxsize=10, ttl=60)

    def failing():
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        cache.get_or_load("k", failing)
    assert cache.get_or_load("k", lambda: "ok") == "ok"


def test_items_come_back_typed_whole_numbers_as_int_money_as_decimal():
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    raw = {k: TypeSerializer().serialize(v) for k, v in {
        "version": Decimal("3"), "price": Decimal("50"), "ratio": Decimal("0.5"),
        "data": {"stock": Decimal("7"), "lines": [{"quantity": Decimal("2")}]}}.items()}
    item = store.deserialize(raw, money_fields=frozenset({"price"}))
    assert item == {"version": 3, "price": Decimal("50"), "ratio": Decimal("0.5"),
                    "data": {"stock": 7, "lines": [{"quantity": 2}]}}
    assert type(item["version"]) is int and type(item["data"]["lines"][0]["quantity"]) is int
    assert type(item["price"]) is Decimal
