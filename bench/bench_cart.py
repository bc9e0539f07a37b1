"""The order page (the cart) and catalogue search at 10,000 products: server time p95 and page size
(targets: order page ≤ 150 ms p95 and ≤ 100 KB; catalogue search ≤ 150 ms p95).

As ``bench_web.py``: Django's whole handler and middleware stack in process (the Django test client),
as a signed-in browser with a DynamoDB session; server time is from the handler being called to the
response being complete. The catalogue is seeded with ``products.services.create_products`` (32
products a transaction, as a CSV import does).

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_cart.py
"""
from __future__ import annotations

import os
import time
from collections import Counter

from _common import CallCounter, interleaved, percentiles, setup_django, size

os.environ.setdefault("LOG_LEVEL", "WARNING")
setup_django()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from products.services import create_products  # noqa: E402
from saas.tenancy import tenant_context  # noqa: E402
from tenants.resolution import SESSION_EMAIL, SESSION_GROUPS, SESSION_SUB  # noqa: E402
from tenants.services import create_pooled_tenant  # noqa: E402
from websessions.backend import SessionStore  # noqa: E402

PRODUCTS = size(10_000, 60)
ITERATIONS = size(200, 3)
WARMUP = size(20, 1)
NOUNS = ("Mug", "Tray", "Kettle", "Filter", "Scoop", "Tin", "Jar", "Cloth")


def main() -> None:
    sub, email = "bench-cart-user", "bench-cart@example.test"
    tenant = create_pooled_tenant(name="Bench Cart", tier="premium", owner_id=sub, owner_email=email)
    started = time.perf_counter()
    with tenant_context(tenant["id"], user_id=sub, roles={"admin"}, tier="premium"):
        created = create_products(products=[
            {"sku": f"SKU-{n:05d}", "name": f"Walnut {NOUNS[n % len(NOUNS)]} {n:05d}", "price": "2.50",
             "currency": "USD", "stock": 50, "category": "bulk" if n % 2 else "tea"} for n in range(1, PRODUCTS + 1)])
    print(f"seeded {len(created)} products in {time.perf_counter() - started:.1f}s")
    p150 = created[min(149, len(created) - 1)]

    session = SessionStore()
    session[SESSION_SUB], session[SESSION_EMAIL], session[SESSION_GROUPS] = sub, email, []
    session.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    csrf = {"HTTP_HX_REQUEST": "true"}
    client.enforce_csrf_checks = False

    requests = {
        "order page (empty cart)": lambda: client.get("/orders/new"),
        "order page (Order this)": lambda: client.get(f"/orders/new?product={p150['id']}"),
        "picker: type 'SKU-0015'": lambda: client.get("/orders/new/products?q=SKU-0015", **csrf),
        "picker: type 'walnut tray'": lambda: client.get("/orders/new/products?q=walnut+tray", **csrf),
        "cart: add a 2nd line": lambda: client.post("/orders/new/cart", {f"qty-{p150['id']}": "3",
                                                                         "add": created[-1]["id"]}, **csrf),
        "review (2 lines)": lambda: client.post("/orders/new", {f"qty-{p150['id']}": "3", f"qty-{created[-1]['id']}": "1",
                                                                "action": "review"}),
        "catalogue search 'tray'": lambda: client.get("/catalogue/?q=tray"),
        "catalogue search 'tray' + category": lambda: client.get("/catalogue/?q=tray&category=tea"),
        "catalogue search 'SKU-01'": lambda: client.get("/catalogue/?q=SKU-01"),
    }
    sizes = {}
    for name, call in requests.items():
        response = call()
        assert response.status_code == 200, (name, response.status_code)
        sizes[name] = len(response.content)

    counter = CallCounter()
    calls = {}
    for name, call in requests.items():
        with counter.counting() as box:
            call()
        calls[name] = Counter(box)
    samples = interleaved(requests, ITERATIONS, warmup=WARMUP)
    print(f"{len(created)} products, {ITERATIONS} requests each, interleaved (server time in process):")
    for name in requests:
        stats = percentiles(samples[name])
        print(f"  {name:<36} p50 {stats['p50'] * 1000:6.1f} ms  p95 {stats['p95'] * 1000:6.1f} ms  "
              f"{sizes[name] / 1024:5.1f} KB  DynamoDB calls {sum(calls[name].values())} {dict(calls[name])}")


if __name__ == "__main__":
    main()
