"""Tenant creation is capped per user. Before, anyone signed in could create unlimited tenants,
including platinum: a viewer got 202,
a dedicated DynamoDB table and the 300 req/s tier, and every active tenant adds sweep work. Now each
user may create at most ``TENANTS_PER_USER`` tenants, and a platinum (silo)
tenant waits for a platform admin's approval before anything is provisioned."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from saas import aws
from tenants import services


def _create(user, tier="basic", name="Self-service Co"):
    return user.client().post("/api/v1/tenants", {"name": name, "tier": tier}, format="json")


def test_a_user_may_create_only_a_few_tenants(make_user, settings):
    settings.TENANTS_PER_USER = 2
    user = make_user()
    assert [_create(user, name=f"Co {n}").status_code for n in range(2)] == [201, 201]
    refused = _create(user, name="Co 3")
    assert refused.status_code == 403
    assert refused.json()["code"] == "plan_limit" and refused.json()["limit"] == "tenants_per_user"
    assert len(user.client().get("/api/v1/me").json()["memberships"]) == 2
    assert _create(make_user(), name="Someone else's").status_code == 201  # per user


@pytest.fixture
def platform_admin(make_user):
    return make_user(groups=("system_admin",))


def _table_exists(name: str) -> bool:
    try:
        aws.client("dynamodb").describe_table(TableName=name)
        return True
    except ClientError:
        return False


def test_platinum_waits_for_a_platform_admins_approval(make_user, platform_admin):
    user = make_user()
    response = _create(user, tier="platinum", name="Big Co")
    assert response.status_code == 202, response.content
    tenant = response.json()
    assert tenant["status"] == "pending_approval"
    assert not _table_exists(services.silo_table_name(tenant["id"]))
    me = user.client().get("/api/v1/me").json()
    assert [(p["id"], p["status"]) for p in me["pending_tenants"]] == [(tenant["id"], "pending_approval")]
    assert me["memberships"] == []

    # Only a platform admin can approve; approving starts provisioning (the job builds the table).
    assert user.client().post(f"/api/v1/admin/tenants/{tenant['id']}/approve").status_code == 403
    approved = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "provisioning"
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/approve").status_code == 409


def test_a_rejected_platinum_request_is_never_provisioned(make_user, platform_admin):
    user = make_user()
    tenant = _create(user, tier="platinum", name="Rejected Co").json()
    rejected = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert [p["status"] for p in user.client().get("/api/v1/me").json()["pending_tenants"]] == ["rejected"]
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/approve").status_code == 409
    assert not _table_exists(services.silo_table_name(tenant["id"]))


def test_a_rejected_request_gives_the_creation_slot_back_once(make_user, platform_admin, settings):
    settings.TENANTS_PER_USER = 1
    user = make_user()
    tenant = _create(user, tier="platinum", name="Maybe Co").json()
    assert _create(user, name="Meanwhile Co").status_code == 403  # the pending request holds the slot

    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/reject").status_code == 200
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/reject").status_code == 409

    assert _create(user, name="Meanwhile Co").status_code == 201
    refused = _create(user, name="One more Co")
    assert refused.status_code == 403 and refused.json()["limit"] == "tenants_per_user"
