"""What an order costs, decided on the server without a server running: prices come from the catalogue
(never from the client), money is exact decimal arithmetic shown to two places, and a request the
catalogue cannot serve (an unknown or another tenant's product, mixed currencies, not enough stock)
is refused naming the lines at fault. Also the order-id rules a date filter and a retried request rely
on. The catalogue read is replaced by the records it would return (``_catalogue`` reads them from
DynamoDB: another tenant's product is simply not among them)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace

import pytest

from orders import models, services
from orders.selectors import OrderFilter
from orders.services import InsufficientStock, quote_order
from products.models import ProductRecord
from saas.errors import InvalidInput

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"


def product(id: str, price: str, *, currency: str = "EUR", stock: int = 10) -> ProductRecord:
    return ProductRecord(id=id, sku=f"SKU-{id}", name=f"Product {id}", price=Decimal(price), currency=currency,
                         stock=stock, version=1)


@pytest.fixture
def catalogue(monkeypatch):
    """The tenant's catalogue as ``quote_order`` reads it; a test fills it."""
    products: dict[str, ProductRecord] = {}
    monkeypatch.setattr(services, "_catalogue",
                        lambda lines: {line["product_id"]: products[line["product_id"]]
                                       for line in lines if line["product_id"] in products})
    return products


def line(product_id: str, quantity: int, **extra) -> dict:
    return {"product_id": product_id, "quantity": quantity, **extra}


def test_prices_and_totals_are_exact_decimals_shown_to_two_places(catalogue):
    catalogue.update(mug=product("mug", "9.99"), pin=product("pin", "0.1"), box=product("box", "12.50"))
    quote = quote_order(lines=[line("mug", 2), line("pin", 3), line("box", 1)])
    assert quote["currency"] == "EUR"
    assert quote["total"] == "32.78"  # 19.98 + 0.30 + 12.50; in binary floats 0.1 * 3 is 0.30000000000000004
    assert [(p["product_id"], p["unit_price"], p["line_total"]) for p in quote["lines"]] == [
        ("mug", "9.99", "19.98"), ("pin", "0.10", "0.30"), ("box", "12.50", "12.50")]
    assert quote["lines"][0] == {"product_id": "mug", "sku": "SKU-mug", "name": "Product mug", "quantity": 2,
                                 "unit_price": "9.99", "line_total": "19.98"}


def test_a_price_sent_by_the_client_is_ignored(catalogue):
    catalogue.update(mug=product("mug", "9.99"))
    quote = quote_order(lines=[line("mug", 1, unit_price="0.01", line_total="0.01", total="0.01")])
    assert quote["total"] == "9.99" and quote["lines"][0]["unit_price"] == "9.99"


def test_unknown_products_are_a_400_naming_each_line(catalogue):
    """Another tenant's product id is unknown here, exactly like one that never existed."""
    catalogue.update(mug=product("mug", "9.99"))
    with pytest.raises(InvalidInput) as refused:
        quote_order(lines=[line("mug", 1), line("rivals-product", 1), line("nope", 2)])
    assert refused.value.status == 400
    assert refused.value.as_dict() == {"code": "invalid", "message": "Invalid input.",
                                       "fields": {"lines": {1: {"product_id": ["Unknown product."]},
                                                           2: {"product_id": ["Unknown product."]}}}}


def test_one_order_has_one_currency(catalogue):
    catalogue.update(mug=product("mug", "9.99"), cap=product("cap", "15.00", currency="USD"))
    with pytest.raises(InvalidInput) as refused:
        quote_order(lines=[line("mug", 1), line("cap", 1)])
    assert refused.value.fields == {"lines": ["All lines must share one currency; these products are priced in "
                                              "EUR, USD."]}


def test_not_enough_stock_is_a_409_listing_the_short_lines(catalogue):
    catalogue.update(mug=product("mug", "9.99", stock=2), cap=product("cap", "15.00", stock=5),
                     pin=product("pin", "1.00", stock=0))
    with pytest.raises(InsufficientStock) as refused:
        quote_order(lines=[line("mug", 3), line("cap", 5), line("pin", 1)])
    assert refused.value.status == 409
    assert refused.value.as_dict() == {
        "code": "insufficient_stock", "message": "Not enough stock for product(s) mug, pin; nothing was reserved.",
        "lines": [{"index": 0, "product_id": "mug", "requested": 3, "available": 2},
                  {"index": 2, "product_id": "pin", "requested": 1, "available": 0}]}


def test_the_last_unit_in_stock_can_be_ordered(catalogue):
    catalogue.update(mug=product("mug", "9.99", stock=2))
    assert quote_order(lines=[line("mug", 2)])["total"] == "19.98"


def test_a_retried_request_is_recognised_and_a_changed_one_is_not():
    """The Idempotency-Key record keeps a hash of the lines: the same lines replay the order, other
    lines under the same key are refused (409 ``idempotency_key_reused``)."""
    same = services._request_hash([line("mug", 2), line("cap", 1)])
    assert services._request_hash([{"quantity": 2, "product_id": "mug"}, {"quantity": 1, "product_id": "cap"}]) == same
    assert services._request_hash([line("mug", 3), line("cap", 1)]) != same
    assert services._request_hash([line("mug", 2), line("pin", 1)]) != same


def test_an_idempotency_key_is_scoped_to_its_user_and_never_stored_as_sent():
    ann = services._idempotency_record_id("sub-ann", "order-42")
    assert services._idempotency_record_id("sub-bob", "order-42") != ann  # Bob's key cannot replay Ann's order
    assert services._idempotency_record_id("sub-ann", "order-42") == ann
    assert "order-42" not in ann and len(ann) == 64  # caller text never reaches a DynamoDB key


@pytest.fixture
def order_id_at(monkeypatch):
    """``new_order_id`` as called at ``moment`` (the clock it reads is set for the call)."""
    def _at(moment: datetime) -> str:
        monkeypatch.setattr(models, "time", SimpleNamespace(time=lambda: moment.timestamp()))
        return models.new_order_id()

    return _at


def test_a_date_filter_keeps_whole_utc_days(order_id_at):
    low, high = OrderFilter(since=date(2027, 1, 15), until=date(2027, 1, 16)).id_range()
    inside = [datetime(2027, 1, 15, 0, 0, tzinfo=timezone.utc), datetime(2027, 1, 16, 23, 59, 59, 999000, timezone.utc)]
    outside = [datetime(2027, 1, 14, 23, 59, 59, 999000, timezone.utc), datetime(2027, 1, 17, tzinfo=timezone.utc)]
    assert all(low <= order_id_at(moment) <= high for moment in inside)
    assert not any(low <= order_id_at(moment) <= high for moment in outside)
    assert OrderFilter().id_range() is None  # no dates: no key range


def test_order_ids_sort_by_creation_time_and_are_not_guessable(order_id_at):
    moment = datetime(2027, 1, 15, 10, 0, tzinfo=timezone.utc)
    for _ in range(50):  # whatever the random tails: one millisecond later sorts later
        assert order_id_at(moment) < order_id_at(moment + timedelta(milliseconds=1))
    same_millisecond = {order_id_at(moment) for _ in range(50)}
    assert len(same_millisecond) == 50
