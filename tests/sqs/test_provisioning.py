"""Platinum provisioning on the Lambda worker: it fits the function's timeout. A job creates the
table and, while it is not ACTIVE, hands the same attempt to a delayed follow-up job instead of
waiting; duplicates and stale follow-ups change nothing."""
from __future__ import annotations

from saas.tenancy import system_context, tables
from tenants import services
from tenants.models import TENANT_DIRECTORY, Tenant
from tenants.services.onboarding import _claim_provisioning
from tenants.tasks import provision_silo
from tests.sqs.harness import wait_until


def directory_record(tenant_id: str) -> dict:
    with system_context(reason="test: read the tenant directory"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)


def test_a_platinum_sign_up_is_built_by_the_lambda_worker(jobs, lambda_worker, poller, make_user):
    owner = make_user()
    response = owner.client().post("/api/v1/tenants", {"name": "Silo Co", "tier": "platinum"}, format="json")
    assert response.status_code == 202, response.content
    tenant = response.json()
    try:
        # Platinum waits for a platform admin's approval; approving enqueues the provisioning job.
        operator = make_user(groups=("system_admin",))
        assert operator.client().post(f"/api/v1/admin/tenants/{tenant['id']}/approve").status_code == 200
        me = wait_until(lambda: (body := owner.client().get("/api/v1/me").json())["memberships"] and body,
                        timeout=60, what="the owner's membership")
        assert me["memberships"] == [{"tenant": {"id": tenant["id"], "name": "Silo Co", "tier": "platinum",
                                                 "status": "active"}, "role": "admin"}]
        assert me["pending_tenants"] == []
    finally:
        tables.delete_table(services.silo_table_name(tenant["id"]))


def test_a_follow_up_continues_the_attempt_whose_table_was_not_ready_and_duplicates_change_nothing(
        jobs, lambda_worker, poller, make_user):
    owner = make_user()
    tenant = services.start_silo_tenant(name="Later Co", owner_id=owner.sub, owner_email=owner.email)
    try:
        # An attempt claimed the tenant, asked for its table and handed off (as on TableNotReady).
        claimed = _claim_provisioning(tenant["id"])
        tables.ensure_table(claimed["table"], wait=False)
        attempt = int(claimed["provisioning_attempts"])
        with system_context(reason="test: the follow-up jobs"):
            follow_ups = [provision_silo.apply_async(args=[tenant["id"], attempt, 1]) for _ in range(2)]
            stale = provision_silo.apply_async(args=[tenant["id"], attempt - 1, 1])  # an older attempt's

        wait_until(lambda: directory_record(tenant["id"])["status"] == "active", timeout=60, what="active")
        wait_until(lambda: jobs.depth() == 0, timeout=30, what="every follow-up handled")
        record = directory_record(tenant["id"])
        assert record["provisioning_attempts"] == attempt  # continued, not a new attempt
        log = lambda_worker.log()
        outcomes = [line.rsplit(": ", 1)[-1] for line in log.splitlines()
                    if any(f"tenants.provision_silo[{job.id}] succeeded" in line for job in [*follow_ups, stale])]
        assert sorted(outcomes) == ["'active'", "'skipped'", "'skipped'"], outcomes
        me = owner.client().get("/api/v1/me").json()
        assert [m["tenant"]["id"] for m in me["memberships"]] == [tenant["id"]]
    finally:
        tables.delete_table(services.silo_table_name(tenant["id"]))
