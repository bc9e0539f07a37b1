"""Web app list pages: server time and DynamoDB round trips per page (target: p50 ≤ 30 ms).

Each request goes through Django's whole handler and middleware stack in process (the Django test
client), as a browser that signed in: the DynamoDB session is loaded, the person's membership is
read afresh (browser requests do not use the membership cache, so removals take effect on the next
request), the page renders with the shell (the header's tenant switcher reads the memberships).
Server time = from the handler being called to the response being complete, which is what the
target is about; the network and the browser are not part of it.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_web.py
"""
from __future__ import annotations

import os
from collections import Counter

from _common import CallCounter, interleaved, percentiles, setup_django

os.environ.setdefault("LOG_LEVEL", "WARNING")
setup_django()

from django.conf import settings  # noqa: E402
from django.test import Client  # noqa: E402

from orders.services import place_order  # noqa: E402
from products.services import seed_demo_products  # noqa: E402
from saas.tenancy import tables, tenant_context  # noqa: E402
from tenants.resolution import SESSION_EMAIL, SESSION_GROUPS, SESSION_SUB  # noqa: E402
from tenants.services import create_pooled_tenant  # noqa: E402
from websessions.backend import SessionStore  # noqa: E402

ITERATIONS = 300
WARMUP = 30
PAGES = {"catalogue (20 products)": "/catalogue/", "orders (20)": "/orders/", "team": "/team/",
         "home": "/"}


def main() -> None:
    tables.ensure_all()
    sub, email = "bench-web-user", "bench-web@example.test"
    tenant = create_pooled_tenant(name="Bench Web", tier="premium", owner_id=sub, owner_email=email)
    products = seed_demo_products(tenant_id=tenant["id"], count=24)
    with tenant_context(tenant["id"], user_id=sub, roles={"admin"}, tier="premium"):
        for n in range(20):
            place_order(lines=[{"product_id": products[n % 12]["id"], "quantity": 1}])

    session = SessionStore()
    session[SESSION_SUB], session[SESSION_EMAIL], session[SESSION_GROUPS] = sub, email, []
    session.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key

    for path in PAGES.values():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)

    counter = CallCounter()
    calls = {}
    for name, path in PAGES.items():
        with counter.counting() as box:
            client.get(path)
        calls[name] = Counter(box)
    samples = interleaved({name: (lambda p=path: client.get(p)) for name, path in PAGES.items()},
                          ITERATIONS, warmup=WARMUP)
    print(f"web pages, {ITERATIONS} requests each, interleaved (server time in process):")
    for name in PAGES:
        stats = percentiles(samples[name])
        print(f"  {name:<24} p50 {stats['p50'] * 1000:6.1f} ms   p99 {stats['p99'] * 1000:6.1f} ms   "
              f"DynamoDB calls {sum(calls[name].values())} {dict(calls[name])}")


if __name__ == "__main__":
    main()
