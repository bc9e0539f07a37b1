"""Products list and get: latency with the tenant machinery vs the same requests with it bypassed,
and DynamoDB round trips per request.

Every variant is a real HTTP request through Django's full handler and middleware stack (the
Django test client, in-process), bearer-token authenticated, against DynamoDB Local, rendering
the same JSON with ``products.models.public_product``:

* **tenancy** — the production path: ``TenantContextMiddleware`` verifies the token and resolves
  the active tenant (membership cache, warm), the context is set, ``ReadViewerWriteManager`` checks
  the role, the per-tenant throttle counts the request, and the view calls the selectors, i.e. the tenant-scoped store (router lookup, key
  building, per-item tenant check, signed tenant-bound cursor).
* **bypassed** — what "tenancy bypassed" means here: the middleware still verifies the bearer
  token (authentication is not tenant machinery) but resolves no tenant and sets no context; a
  minimal bench-only DRF view (IsAuthenticated) issues the *identical* GetItem / Query with raw
  boto3 for the same keys (the tenant's PK written out by hand), with no router, no tenant check
  and an unsigned cursor. The ratio tenancy/bypassed p50 is the target (≤ 1.03).
* **fixed context** (extra) — the real product views, with the middleware's resolver replaced by
  one that verifies the token and returns a prebuilt TenantContext: isolates the per-request
  tenant resolution from the store's cost.

Round trips are counted with a botocore ``before-call.dynamodb`` hook on ``saas.aws.botocore_session()``
over the timed requests (target: get = 1, list page = 1; the warm resolution cache makes tenant
resolution 0).

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_products.py
"""
from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter

from _common import CallCounter, interleaved, percentiles, setup_django, signed_in_tenant, size

os.environ.setdefault("LOG_LEVEL", "WARNING")  # keep the figures readable
os.environ["THROTTLE_RATE_PREMIUM"] = "10000/s"
os.environ["THROTTLE_RATE_NO_TENANT"] = "100000/s"  # the bypassed side is a signed-in caller with no tenant
setup_django()

from django.test import Client, override_settings  # noqa: E402
from django.urls import clear_url_caches, path  # noqa: E402
from rest_framework import exceptions, permissions  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402

from products.models import product_etag, public_product  # noqa: E402
from products.serializers import ListQuerySerializer  # noqa: E402
from products.services import seed_demo_products  # noqa: E402
from saas import aws, urls  # noqa: E402
from saas.tenancy import TenantContext, tables  # noqa: E402
from saas.tenancy.store import deserialize, router  # noqa: E402
from tenants.resolution import identity_from_request  # noqa: E402

ITERATIONS = size(1000, 3)
WARMUP = size(50, 1)
BENCH = {}  # tenant id, table, fixed context: filled in by setup()


# --- the bypassed side ---------------------------------------------------------------------------
def identity_only_resolver(request):
    """Authenticate (verify the bearer token) but resolve no tenant and set no context."""
    request.auth_error = None
    request.identity = identity_from_request(request)
    request.resolution = None
    return None


def fixed_context_resolver(request):
    """Authenticate, then use a prebuilt context instead of resolving the membership."""
    identity_only_resolver(request)
    return BENCH["context"] if request.identity is not None else None


class RawProductList(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request):
        query = ListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        kwargs = {}
        if query.validated_data.get("cursor"):
            kwargs["ExclusiveStartKey"] = json.loads(base64.urlsafe_b64decode(query.validated_data["cursor"]))
        response = aws.client("dynamodb").query(
            TableName=BENCH["table"], KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": f"TENANT#{BENCH['tenant_id']}#PRODUCT"}},
            Limit=query.validated_data["limit"], **kwargs)
        last = response.get("LastEvaluatedKey")
        return Response({"results": [public_product(deserialize(raw)) for raw in response.get("Items", [])],
                         "next_cursor": base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None})


class RawProductDetail(APIView):
    permission_classes = [permissions.IsAuthenticated]

    def get(self, request, product_id: str):
        raw = aws.client("dynamodb").get_item(
            TableName=BENCH["table"],
            Key={"PK": {"S": f"TENANT#{BENCH['tenant_id']}#PRODUCT"}, "SK": {"S": product_id}}).get("Item")
        if not raw:
            raise exceptions.NotFound()
        item = deserialize(raw)
        return Response(public_product(item), headers={"ETag": product_etag(item)})


# --- setup: a real Cognito user and tenant, through the same code paths as the test fixtures -------
def setup() -> tuple[str, str]:
    tables.ensure_all()
    # The throttle still runs (its cost is measured) but with a rate the timed requests stay under.
    token, tenant = signed_in_tenant(tier="premium", name="Bench products")
    sub = tenant["created_by"]
    products = seed_demo_products(tenant_id=tenant["id"], count=40)
    BENCH.update(tenant_id=tenant["id"], table=router.table_for(tenant["id"]),
                 context=TenantContext(tenant_id=tenant["id"], user_id=sub, roles=frozenset({"admin"}),
                                         tier="premium"))
    urls.urlpatterns += [path("bench/raw/products", RawProductList.as_view()),
                         path("bench/raw/products/<str:product_id>", RawProductDetail.as_view())]
    clear_url_caches()
    return token, products[7]["id"]


def client_with_resolver(token: str, resolver: str | None) -> Client:
    """A client whose handler builds its middleware (and so reads TENANT_RESOLVER) right now."""
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    if resolver is None:
        client.handler.load_middleware()
    else:
        with override_settings(TENANT_RESOLVER=resolver):
            client.handler.load_middleware()
    return client


def main() -> None:
    token, product_id = setup()
    tenancy = client_with_resolver(token, None)
    bypassed = client_with_resolver(token, "__main__.identity_only_resolver")
    fixed = client_with_resolver(token, "__main__.fixed_context_resolver")

    requests = {
        "get    tenancy": (tenancy, f"/api/v1/products/{product_id}"),
        "get    fixed context": (fixed, f"/api/v1/products/{product_id}"),
        "get    bypassed": (bypassed, f"/bench/raw/products/{product_id}"),
        "list20 tenancy": (tenancy, "/api/v1/products?limit=20"),
        "list20 fixed context": (fixed, "/api/v1/products?limit=20"),
        "list20 bypassed": (bypassed, "/bench/raw/products?limit=20"),
    }
    # Same answers on every side before timing anything.
    for name, (client, url) in requests.items():
        response = client.get(url)
        assert response.status_code == 200, (name, response.content[:300])
        body = response.json()
        assert (len(body["results"]) == 20 and body["next_cursor"]) if "list" in name else body["id"] == product_id

    counter = CallCounter()  # registered after setup: counts only the requests below
    calls: dict[str, Counter] = {name: Counter() for name in requests}
    runs: Counter = Counter()
    cpu: Counter = Counter()  # this process's CPU seconds: our code's cost without DynamoDB Local's

    def request(name: str):
        client, url = requests[name]

        def run():
            before, cpu_before = len(counter.calls), time.process_time()
            status = client.get(url).status_code
            cpu[name] += time.process_time() - cpu_before
            assert status == 200, (name, status)
            calls[name].update(counter.calls[before:])
            runs[name] += 1
        return run

    samples = interleaved({name: request(name) for name in requests}, ITERATIONS, warmup=WARMUP)
    stats = {name: percentiles(s) for name, s in samples.items()}

    print(f"products API, {ITERATIONS} interleaved iterations each after {WARMUP} warm-up requests "
          f"(Django test client, in-process; DynamoDB Local)\n")
    print(f"  {'request':<22} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms':>8}   DynamoDB calls/request")
    for name, p in stats.items():
        per_request = sum(calls[name].values()) / runs[name]
        ops = ", ".join(f"{op} {n / runs[name]:.3f}" for op, n in sorted(calls[name].items()))
        print(f"  {name:<22} {p['p50'] * 1000:8.3f} {p['p99'] * 1000:8.3f} {cpu[name] / runs[name] * 1000:8.3f}"
              f"   {per_request:.3f} ({ops})")
    print("  (CPU ms = mean CPU time of this process per request: the Python cost, without DynamoDB Local's)\n")
    for op in ("get   ", "list20"):
        full, raw, fix = (stats[f"{op} {v}"]["p50"] for v in ("tenancy", "bypassed", "fixed context"))
        cpu_full, cpu_raw = cpu[f"{op} tenancy"] / runs[f"{op} tenancy"], cpu[f"{op} bypassed"] / runs[f"{op} bypassed"]
        print(f"  {op.strip():<6} p50 tenancy/bypassed {full / raw:.3f} (target <= 1.03); "
              f"tenancy/fixed-context {full / fix:.3f}; CPU tenancy/bypassed {cpu_full / cpu_raw:.3f} "
              f"(+{(cpu_full - cpu_raw) * 1e6:.0f} us)")
    scans = sum(c["Scan"] for c in calls.values())
    print(f"\n  Scans issued: {scans}")


if __name__ == "__main__":
    main()
