"""The owner's final export: while the tenant they are deleting is closed (grace period), its owner —
and nobody else — downloads the final export through a 15-minute link, in the API and on the web."""
from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests

from saas.tenancy import system_context
from tenants import offboarding
from tenants.models import TENANT_DIRECTORY, Tenant
from tests.jobs.harness import wait_until
from tests.products.factories import create_product

from .factories import trail


@pytest.fixture(autouse=True)
def _worker(running_worker):
    yield


def _name(tenant_id: str) -> str:
    with system_context(reason="test"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id)["name"]


def _schedule_by_owner(tenant) -> dict:
    response = tenant.admin.client().post("/api/v1/tenants/current/offboard", {"confirm_name": _name(tenant.id)},
                                          format="json")
    assert response.status_code == 202, response.content
    return wait_until(lambda: (lambda r: r if r["status"] == "waiting" else None)(offboarding.get_offboarding(tenant.id)),
                      timeout=30, what="the final export")


def _download(user, tenant_id: str):
    return user.client().post(f"/api/v1/me/offboardings/{tenant_id}/final-export/download")


def test_the_owner_downloads_the_final_export_during_the_grace_period(tenant_a, make_user, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 3600
    owner = tenant_a.admin
    product = create_product(owner.client(), name="Kept in the final export")
    record = _schedule_by_owner(tenant_a)
    assert owner.client().get("/api/v1/products").status_code == 403  # the tenant is closed...

    listed = owner.client().get("/api/v1/me/offboardings")
    assert listed.status_code == 200, listed.content
    [mine] = listed.json()["results"]
    assert mine["tenant_id"] == tenant_a.id and mine["final_export"]["ready"] is True
    assert mine["final_export"]["size"] > 0 and mine["delete_after"].startswith(
        offboarding.public_offboarding(record)["delete_after"][:16])

    link = _download(owner, tenant_a.id)  # ...but its owner gets the final export
    assert link.status_code == 200, link.content
    assert link.json()["expires_in"] == 900 and "X-Amz-Expires=900" in link.json()["url"]
    archive = zipfile.ZipFile(io.BytesIO(requests.get(link.json()["url"], timeout=10).content))
    exported = [json.loads(line) for line in archive.read("products.ndjson").decode().splitlines()]
    assert [p["id"] for p in exported] == [product["id"]]
    assert json.loads(archive.read("manifest.json"))["export_id"] == record["final_export_id"]

    # Audit-logged: the tenant's trail (the owner as actor) and the platform trail (it outlives the tenant).
    downloads = [r for r in trail(tenant_a.id) if r["action"] == "export.downloaded"]
    assert [(r["actor_id"], r["target_id"]) for r in downloads] == [(owner.sub, record["final_export_id"])]
    platform = [r for r in trail(None) if r["action"] == "tenant.final_export_downloaded" and r["target_id"] == tenant_a.id]
    assert len(platform) == 1 and platform[0]["actor_id"] == owner.sub

    # Once deletion has started, the export is gone and so is the link.
    offboarding.run_offboarding(tenant_id=tenant_a.id, now=int(record["delete_after"]) + 1)
    assert _download(owner, tenant_a.id).status_code == 404
    assert owner.client().get("/api/v1/me/offboardings").json()["results"] == []


def test_nobody_but_the_owner_gets_the_final_export(tenant_a, tenant_b, make_user, platform_admin, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 3600
    other_admin = tenant_a.add(make_user, "admin")
    _schedule_by_owner(tenant_a)
    offboarding.schedule_offboarding(tenant_id=tenant_b.id, actor_id=platform_admin.sub)  # not by its owner
    assert offboarding.run_offboarding(tenant_id=tenant_b.id)["status"] == "waiting"  # its final export is made

    for user in (other_admin, tenant_b.admin, platform_admin, make_user()):
        assert _download(user, tenant_a.id).status_code == 404
        assert tenant_a.id not in str(user.client().get("/api/v1/me/offboardings").json())
    # A platform admin's offboarding is not the owner's to download (and unknown ids look the same).
    assert _download(tenant_b.admin, tenant_b.id).status_code == 404
    assert _download(tenant_a.admin, "t-00000000000000000000").status_code == 404
    assert _download(tenant_a.admin, "not a tenant").status_code == 404
    assert not [r for r in trail(tenant_a.id) if r["action"] == "export.downloaded"]
