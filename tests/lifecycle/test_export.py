"""Tenant export through the real worker path (a ``celery -A saas worker`` subprocess on Redis),
archive on the moto server's S3, download through a 15-minute presigned link."""
from __future__ import annotations

import io
import json
import threading
import zipfile

import pytest
import requests

from saas import export, files
from saas.export import exportable_models
from saas.tenancy import tenant_context
from saas.worker import handle_schedule
from tests.jobs.harness import wait_until
from tests.products.factories import create_product

from .factories import trail


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
    endpoint = admin.post("/api/v1/webhooks/endpoints", {"url": "https://127.0.0.1/hook", "event_types": ["*"]},
                          format="json").json()

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
            "webhook_endpoints.ndjson", "audit.ndjson", "manifest.json"} <= names
    # The endpoint is exported, its signing secret is not (nor in the audit records exported with it).
    assert endpoint["id"] in archive.read("webhook_endpoints.ndjson").decode()
    assert not any(endpoint["secret"] in archive.read(name).decode() for name in names)

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


# --- lost jobs: the exports sweep (a beat entry, run here through the Lambda schedule handler) ----------
class Killed(BaseException):
    """Stops a run the way a killed worker stops: no except/finally clean-up of ours runs."""


def _schedule_only_the_export_sweep(settings) -> None:
    entries = {name: entry for name, entry in settings.CELERY_BEAT_SCHEDULE.items() if entry["task"] == "exports.sweep"}
    assert entries, "exports.sweep is not on the beat schedule"
    settings.CELERY_BEAT_SCHEDULE = entries  # the other sweeps would fan out over every tenant of the suite


def _lambda_schedule_tick() -> dict:
    return handle_schedule({"time": "2026-12-02T05:01:00Z"})


def _archive(client, export_id: str) -> zipfile.ZipFile:
    link = client.post(f"/api/v1/exports/{export_id}/download")
    assert link.status_code == 200, link.content
    return zipfile.ZipFile(io.BytesIO(requests.get(link.json()["url"], timeout=10).content))


def _archive_objects(tenant_id: str, export_id: str) -> list[str]:
    listed = files.s3_client().list_objects_v2(Bucket=files.bucket_name(), Prefix=f"tenants/{tenant_id}/exports/{export_id}")
    return [o["Key"] for o in listed.get("Contents", [])]


def _product_ids(archive: zipfile.ZipFile) -> set[str]:
    return {json.loads(line)["id"] for line in archive.read("products.ndjson").decode().splitlines()}


def test_an_export_whose_enqueue_was_lost_is_run_by_the_sweep(tenant_a, settings):
    settings.EXPORT_STALE_SECONDS = 0
    _schedule_only_the_export_sweep(settings)
    admin = tenant_a.admin.client()
    products = [create_product(admin, name=f"Lost {n}") for n in range(2)]
    with tenant_context(tenant_a.id):
        job = export.request_export()  # committed, but its job never reached the queue
    assert admin.get(f"/api/v1/exports/{job['id']}").json()["status"] == "pending"

    outcomes = _lambda_schedule_tick()
    assert outcomes["exports.sweep"] >= 1, outcomes
    done = wait_until(lambda: _finished(admin, job["id"]), timeout=30, what="the swept export to finish")
    assert done["status"] == "completed" and done["attempts"] == 1, done
    assert done["progress"]["entities_done"] == done["progress"]["entities_total"]
    assert _product_ids(_archive(admin, job["id"])) == {p["id"] for p in products}
    # Finished: the next sweep leaves it alone.
    assert _lambda_schedule_tick()["exports.sweep"] == 0 or job["id"] not in str(export.stale_exports())


def test_an_export_whose_worker_died_midway_is_finished_by_the_sweep(tenant_a, settings):
    settings.EXPORT_STALE_SECONDS = 0
    _schedule_only_the_export_sweep(settings)
    admin = tenant_a.admin.client()
    products = [create_product(admin, name=f"Kept {n}") for n in range(2)]

    def die_after_two(done: int) -> None:
        if done == 2:
            raise Killed()

    with tenant_context(tenant_a.id):
        job = export.request_export()
        with pytest.raises(Killed):
            export.run_export(export_id=job["id"], checkpoint=die_after_two)
    halfway = admin.get(f"/api/v1/exports/{job['id']}").json()
    assert halfway["status"] == "running" and halfway["progress"]["entities_done"] == 2  # progress still visible
    products.append(create_product(admin, name="Added after the crash"))

    assert _lambda_schedule_tick()["exports.sweep"] >= 1
    done = wait_until(lambda: _finished(admin, job["id"]), timeout=30, what="the resumed export to finish")
    assert done["status"] == "completed" and done["attempts"] == 2, done
    archive = _archive(admin, job["id"])
    assert _product_ids(archive) == {p["id"] for p in products}
    assert done["counts"]["products"] == 3
    assert json.loads(archive.read("manifest.json"))["files"]["products.ndjson"] == 3
    assert _archive_objects(tenant_a.id, job["id"]) == [f"tenants/{tenant_a.id}/exports/{job['id']}-2.zip"]


def test_a_slow_run_overtaken_by_the_sweep_never_replaces_the_archive(tenant_a, settings):
    """The first run was only slow, not dead: it finishes after the sweep's run completed. Exactly one
    run completes; the record's counts describe exactly the archive it points to."""
    settings.EXPORT_STALE_SECONDS = 0
    _schedule_only_the_export_sweep(settings)
    admin = tenant_a.admin.client()
    products = [create_product(admin, name=f"Slow {n}") for n in range(2)]
    with tenant_context(tenant_a.id):
        job = export.request_export()
    total = len(exportable_models())
    at_the_end, go_on = threading.Event(), threading.Event()
    result: dict = {}

    def slow(done: int) -> None:
        if done == total:  # every entity read, archive not uploaded yet
            at_the_end.set()
            go_on.wait(60)

    def first_run() -> None:
        with tenant_context(tenant_a.id):
            result["job"] = export.run_export(export_id=job["id"], checkpoint=slow)

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert at_the_end.wait(30)
        products.append(create_product(admin, name="Only in the second run"))
        assert _lambda_schedule_tick()["exports.sweep"] >= 1
        done = wait_until(lambda: _finished(admin, job["id"]), timeout=30, what="the second run to finish")
    finally:
        go_on.set()
        thread.join(60)
    assert done["status"] == "completed" and done["attempts"] == 2 and done["counts"]["products"] == 3
    assert result["job"]["status"] == "completed" and result["job"]["counts"]["products"] == 3
    assert _product_ids(_archive(admin, job["id"])) == {p["id"] for p in products}
    assert _archive_objects(tenant_a.id, job["id"]) == [f"tenants/{tenant_a.id}/exports/{job['id']}-2.zip"]
    completions = [r for r in trail(tenant_a.id) if r["action"] == "export.completed" and r["target_id"] == job["id"]]
    assert len(completions) == 1


def test_an_export_that_keeps_killing_its_worker_is_failed_after_the_last_attempt(tenant_a, settings):
    settings.EXPORT_MAX_ATTEMPTS = 2
    with tenant_context(tenant_a.id):
        job = export.request_export()
        for _ in range(2):  # each time the sweep finds it stale and hands it to a new run
            with pytest.raises(Killed):
                export.run_export(export_id=job["id"], takeover=True,
                                  checkpoint=lambda done: (_ for _ in ()).throw(Killed()))
        failed = export.run_export(export_id=job["id"], takeover=True)
    assert failed["status"] == "failed" and "2 attempts" in failed["error"]
    body = tenant_a.admin.client().get(f"/api/v1/exports/{job['id']}").json()
    assert body["status"] == "failed"
    settings.EXPORT_STALE_SECONDS = 0
    assert job["id"] not in {s["export_id"] for s in export.stale_exports()}  # no longer open


def test_a_duplicate_delivery_leaves_a_live_run_alone(tenant_a):
    """A broker redelivers a long job's message while its run is alive: the copy does nothing, the
    live run completes (it is neither superseded nor restarted)."""
    create_product(tenant_a.admin.client(), name="Long export")
    with tenant_context(tenant_a.id):
        job = export.request_export()
    at_first, go_on = threading.Event(), threading.Event()
    result: dict = {}

    def slow(done: int) -> None:
        if done == 1:
            at_first.set()
            go_on.wait(60)

    def live_run() -> None:
        with tenant_context(tenant_a.id):
            result["job"] = export.run_export(export_id=job["id"], checkpoint=slow)

    thread = threading.Thread(target=live_run)
    thread.start()
    try:
        assert at_first.wait(30)
        with tenant_context(tenant_a.id):
            copy = export.run_export(export_id=job["id"])  # the redelivered message, no takeover
        assert copy["status"] == "running" and copy["attempts"] == 1
    finally:
        go_on.set()
        thread.join(60)
    assert result["job"]["status"] == "completed" and result["job"]["attempts"] == 1
    assert _archive_objects(tenant_a.id, job["id"]) == [f"tenants/{tenant_a.id}/exports/{job['id']}-1.zip"]
