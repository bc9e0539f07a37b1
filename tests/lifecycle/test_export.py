"""Tenant export through the real worker path (a ``celery -A saas worker`` subprocess on Redis),
archive on the moto server's S3, download through a 15-minute presigned link."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests

from saas.export import exportable_models
from tests.jobs.harness import wait_until

from .conftest import create_product, trail


@pytest.fixture(autouse=True)
def _worker(running_worker):
    yield


def _seed(tenant, make_user, receiver_url: str | None = None) -> dict:
    manager = tenant.add(make_user, "manager")
    client = manager.client()
    products = [create_product(client, name=f"Item {n}", stock=10) for n in range(3)]
    order = client.post("/api/v1/orders", {"lines": [{"product_id": products[0]["id"], "quantity": 2}]},
                        format="json")
    assert order.status_code in (201, 202), order.content
    return {"manager": manager, "products": products, "order": order.json()}


def _finished(client, export_id: str) -> dict | None:
    body = client.get(f"/api/v1/exports/{export_id}").json()
    return body if body["status"] in ("completed", "failed") else None


def test_an_admin_exports_every_item_and_downloads_it_through_a_short_link(tenant_a, tenant_b, make_user):
    seeded = _seed(tenant_a, make_user)
    create_product(tenant_b.admin.client(), name="Neighbour's")
    admin = tenant_a.admin.client()

    started = admin.post("/api/v1/exports")
    assert started.status_code == 202, started.content
    job = started.json()
    assert job["status"] == "pending" and job["progress"] == {"entities_done": 0,
                                                               "entities_total": len(exportable_models())}
    assert started["Location"].endswith(f"/exports/{job['id']}")
    done = wait_until(lambda: _finished(admin, job["id"]), timeout=30, what="export to finish")
    assert done["status"] == "completed", done
    assert done["progress"]["entities_done"] == done["progress"]["entities_total"] == len(exportable_models())
    assert done["counts"]["products"] == 3 and done["counts"]["orders"] == 1 and done["counts"]["members"] == 2

    link = admin.post(f"/api/v1/exports/{job['id']}/download")
    assert link.status_code == 200 and link.json()["expires_in"] == 900
    assert "X-Amz-Expires=900" in link.json()["url"]
    archive = zipfile.ZipFile(io.BytesIO(requests.get(link.json()["url"], timeout=10).content))
    names = set(archive.namelist())
    assert {"products.ndjson", "orders.ndjson", "members.ndjson", "webhook_subscriptions.ndjson",
            "audit.ndjson", "manifest.json"} <= names

    def lines(name):
        return [json.loads(line) for line in archive.read(name).decode().splitlines()]

    exported_products = lines("products.ndjson")
    assert {p["id"] for p in exported_products} == {p["id"] for p in seeded["products"]}
    assert all(p["tenant_id"] == tenant_a.id for p in exported_products)
    assert [o["id"] for o in lines("orders.ndjson")] == [seeded["order"]["id"]]
    assert {m["id"] for m in lines("members.ndjson")} == {tenant_a.admin.sub, seeded["manager"].sub}
    assert "export.requested" in {r["action"] for r in lines("audit.ndjson")}
    # Nothing of the neighbour, in any file.
    assert tenant_b.id not in b"".join(archive.read(n) for n in names).decode()

    actions = [r["action"] for r in trail(tenant_a.id)]
    assert {"export.requested", "export.completed", "export.downloaded"} <= set(actions)
    completed = next(r for r in trail(tenant_a.id) if r["action"] == "export.completed")
    assert completed["actor_type"] == "job" and completed["actor_id"] == "exports.run"


def test_exports_are_admin_only_and_tenant_scoped(tenant_a, tenant_b, manager):
    assert manager.client().post("/api/v1/exports").status_code == 403
    job = tenant_a.admin.client().post("/api/v1/exports").json()
    other = tenant_b.admin.client()
    assert other.get(f"/api/v1/exports/{job['id']}").status_code == 404
    assert other.post(f"/api/v1/exports/{job['id']}/download").status_code == 404
    assert job["id"] not in {j["id"] for j in other.get("/api/v1/exports").json()["results"]}
