"""Offboarding end to end: a tenant seeded with every kind of item is deleted — every partition the
store knows, its memberships, SNS topics, S3 prefix and routing — proven by raw queries, while its
neighbour is untouched; the job is interrupted halfway and finished by a real worker."""
from __future__ import annotations

import pytest
from django.conf import settings as django_settings

import audit
import files
from devstack.webhook_receiver import Receiver
from exports import selectors as export_selectors
from products.services import create_product as create_product_service
from saas import aws
from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import TENANT_MODELS, router, serialize
from tenants import offboarding
from tenants.models import TENANT_DIRECTORY, Tenant, UserMembership
from tenants.services.records import inbox_partition
from tenants.tasks import enqueue_offboarding
from tests.jobs.harness import wait_until
from tests.products.factories import create_product
from usage import services as usage

from .factories import trail
from .test_product_images import png, start, upload


@pytest.fixture(autouse=True)
def _worker(running_worker):
    yield


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def platform_admin(make_user):
    return make_user(groups=("system_admin",))


def partition_counts(tenant_id: str) -> dict[str, int]:
    """Items per entity partition ``TENANT#<t>#<ENTITY>``, counted by raw DynamoDB queries."""
    client, table, counts = aws.client("dynamodb"), router.table_for(tenant_id), {}
    for entity in TENANT_MODELS:
        kwargs = {"TableName": table, "KeyConditionExpression": "PK = :pk", "Select": "COUNT",
                  "ExpressionAttributeValues": serialize({":pk": f"TENANT#{tenant_id}#{entity}"})}
        total = 0
        while True:
            page = client.query(**kwargs)
            total += page["Count"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        counts[entity] = total
    return counts


def gsi_count(tenant_id: str, gsi: str, partition: str) -> int:
    return aws.client("dynamodb").query(
        TableName=django_settings.DYNAMODB_TABLE, IndexName=gsi, KeyConditionExpression=f"{gsi}PK = :pk",
        Select="COUNT", ExpressionAttributeValues=serialize({":pk": f"TENANT#{tenant_id}#{partition}"}))["Count"]


def platform_item(pk: str, sk: str) -> dict | None:
    return aws.client("dynamodb").get_item(TableName=django_settings.DYNAMODB_TABLE,
                                           Key=serialize({"PK": pk, "SK": sk}), ConsistentRead=True).get("Item")


def sns_topics(tenant_id: str) -> list[str]:
    prefix = f"{django_settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-"
    return [t["TopicArn"] for page in aws.client("sns").get_paginator("list_topics").paginate()
            for t in page["Topics"] if t["TopicArn"].rsplit(":", 1)[1].startswith(prefix)]


def receipt_invitations(tenant_id: str) -> int:
    return offboarding.public_offboarding(offboarding.get_offboarding(tenant_id))["counts"].get("invitations", 0)


def seed_everything(tenant, make_user, receiver) -> dict:
    """Every kind of item a tenant can have."""
    manager = tenant.add(make_user, "manager")
    client = manager.client()
    products = [create_product(client, name=f"P{n}", stock=50) for n in range(4)]
    form = start(client, products[0]["id"])
    upload(form, png())
    assert client.put(f"/api/v1/products/{products[0]['id']}/image", {"upload_id": form["upload_id"]},
                      format="json").status_code == 200
    order = client.post("/api/v1/orders", {"lines": [{"product_id": products[1]["id"], "quantity": 1}]},
                        format="json", HTTP_IDEMPOTENCY_KEY="seed-1")
    assert order.status_code in (201, 202), order.content
    admin = tenant.admin.client()
    hook = admin.post("/api/v1/webhooks/subscriptions", {"event_type": "order.created", "url": receiver.url("/h")},
                      format="json")
    assert hook.status_code == 201, hook.content
    invited = admin.post("/api/v1/tenants/current/members", {"email": "pending.person@example.test",
                                                             "role": "viewer"}, format="json")
    assert invited.status_code in (201, 202), invited.content  # a pending invitation (and its inbox copy)
    exported = admin.post("/api/v1/exports").json()
    wait_until(lambda: admin.get(f"/api/v1/exports/{exported['id']}").json()["status"] == "completed", timeout=30)
    usage.flush()
    return {"manager": manager, "order": order.json()}


def test_offboarding_deletes_every_item_resumes_after_a_kill_and_spares_the_neighbour(
        tenant_a, tenant_b, make_user, receiver, platform_admin, settings, running_worker):
    settings.OFFBOARDING_GRACE_SECONDS = 0
    seeded = seed_everything(tenant_a, make_user, receiver)
    create_product(tenant_b.admin.client(), name="Neighbour")
    usage.flush()
    neighbour_before = partition_counts(tenant_b.id)
    users = [tenant_a.admin, seeded["manager"]]
    assert sns_topics(tenant_a.id) and files.count_prefix(tenant_a.id) >= 2

    record = offboarding.schedule_offboarding(tenant_id=tenant_a.id, actor_id=platform_admin.sub)
    assert record["status"] == "scheduled"
    # Deactivated at once: its users are refused.
    assert tenant_a.admin.client().get("/api/v1/products").status_code == 403

    # First run stops before the grace period ends: the final export is made, nothing is deleted.
    waiting = offboarding.run_offboarding(tenant_id=tenant_a.id, now=int(record["delete_after"]) - 1)
    assert waiting["status"] == "waiting" and waiting["final_export_id"]
    before = partition_counts(tenant_a.id)
    kinds = {e for e, n in before.items() if n}
    assert {"PRODUCT", "PRODUCTSKU", "ORDER", "IDEMPOTENCY", "OUTBOX", "MEMBER", "INVITATION", "WEBHOOKTOPIC",
            "WEBHOOKSUB", "WEBHOOKCOUNT", "AUDIT", "AUDITHEAD", "USAGE", "EXPORT", "QUOTA"} <= kinds, before

    # Killed halfway (as a worker dying mid-job): some items gone, some left.
    with pytest.raises(offboarding.Interrupted):
        offboarding.run_offboarding(tenant_id=tenant_a.id, interrupt_after_pages=4)
    halfway = partition_counts(tenant_a.id)
    assert 0 < sum(halfway.values()) < sum(before.values())
    assert offboarding.get_offboarding(tenant_a.id)["status"] == "deleting"

    # The next run — a real worker, from the queue — finishes it.
    enqueue_offboarding(tenant_a.id)
    try:
        wait_until(lambda: offboarding.get_offboarding(tenant_a.id)["status"] == "completed" or None,
                   timeout=60, what="offboarding to complete")
    except AssertionError:
        raise AssertionError(running_worker.log()[-6000:]) from None  # the worker's side of the story

    # Nothing of the tenant is left, on any partition prefix, index, or platform item.
    assert partition_counts(tenant_a.id) == {entity: 0 for entity in TENANT_MODELS}
    assert gsi_count(tenant_a.id, "GSI1", f"ORDER#USER#{seeded['manager'].sub}") == 0
    assert gsi_count(tenant_a.id, "GSI2", "ORDER#OPEN") == 0
    assert gsi_count(tenant_a.id, "GSI1", "PRODUCT#widgets") == 0
    for user in users:
        assert platform_item(f"MEMBERSHIP#{user.sub}", tenant_a.id) is None
        profile = platform_item(f"PROFILE#{user.sub}", "profile")
        assert profile is None or profile.get("active_tenant_id", {}).get("S") != tenant_a.id
    assert platform_item(f"TENANT#{TENANT_DIRECTORY}", tenant_a.id) is None
    assert receipt_invitations(tenant_a.id) == 1
    invitee_inbox = aws.client("dynamodb").query(
        TableName=django_settings.DYNAMODB_TABLE, KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues=serialize({":pk": f"INVITE#{inbox_partition('pending.person@example.test')}"}))
    assert [i for i in invitee_inbox["Items"] if i["SK"]["S"].startswith(tenant_a.id)] == []
    assert platform_item(router.ROUTING_PK, tenant_a.id) is None
    assert files.count_prefix(tenant_a.id) == 0
    assert sns_topics(tenant_a.id) == []
    me = tenant_a.admin.client().get("/api/v1/me").json()
    assert tenant_a.id not in str(me)

    # The receipt: exact counts per entity type (the interrupted run's pages included), start and end.
    receipt = offboarding.public_offboarding(offboarding.get_offboarding(tenant_a.id))
    for entity, n in before.items():
        if n and entity not in ("MEMBER", "INVITATION"):  # counted as memberships / invitations
            assert receipt["counts"][entity.lower()] == n, (entity, receipt["counts"])
    assert receipt["counts"]["memberships"] == 2 and receipt["counts"]["s3_objects"] >= 2
    assert receipt["counts"]["sns_topics"] >= 1 and receipt["counts"]["sns_subscriptions"] >= 1
    listed = platform_admin.client().get("/api/v1/admin/audit", {"action": "tenant.deleted"}).json()["results"]
    entry = next(r for r in listed if r["target_id"] == tenant_a.id)
    assert entry["actor_detail"]["counts"] == receipt["counts"]
    assert entry["actor_detail"]["started_at"] and entry["actor_detail"]["ended_at"]
    with system_context(reason="test"):
        assert audit.verify_chain().ok  # the platform trail

    # The neighbour is untouched.
    assert partition_counts(tenant_b.id) == neighbour_before
    assert tenant_b.admin.client().get("/api/v1/products").status_code == 200
    with system_context(reason="test"):
        assert audit.verify_chain(tenant_id=tenant_b.id).ok
        assert Tenant.objects.get(TENANT_DIRECTORY, tenant_b.id)["status"] == "active"
        assert UserMembership.objects.get(tenant_b.admin.sub, tenant_b.id)


def test_platform_admin_offboards_through_the_api_and_reads_the_receipt(tenant_a, platform_admin, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 0
    create_product(tenant_a.admin.client())
    response = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_a.id}/offboard")
    assert response.status_code == 202, response.content
    again = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_a.id}/offboard")
    assert again.status_code == 409
    url = f"/api/v1/admin/tenants/{tenant_a.id}/offboarding"
    done = wait_until(lambda: (lambda b: b if b["status"] == "completed" else None)(
        platform_admin.client().get(url).json()), timeout=60, what="offboarding to complete")
    assert done["counts"]["product"] == 1 and done["counts"]["memberships"] == 1
    assert tenant_a.admin.client().get(url).status_code == 403


def test_an_owner_offboards_only_by_typing_the_name(tenant_a, make_user, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 3600  # the job exports, then waits
    with system_context(reason="test"):
        name = Tenant.objects.get(TENANT_DIRECTORY, tenant_a.id)["name"]
    other_admin = tenant_a.add(make_user, "admin")
    wrong = tenant_a.admin.client().post("/api/v1/tenants/current/offboard", {"confirm_name": name.upper()},
                                        format="json")
    assert wrong.status_code == 400 and wrong.json()["code"] == "confirmation_mismatch"
    not_owner = other_admin.client().post("/api/v1/tenants/current/offboard", {"confirm_name": name}, format="json")
    assert not_owner.status_code == 403
    ok = tenant_a.admin.client().post("/api/v1/tenants/current/offboard", {"confirm_name": name}, format="json")
    assert ok.status_code == 202, ok.content
    assert tenant_a.admin.client().get("/api/v1/products").status_code == 403  # deactivated at once
    waiting = wait_until(lambda: offboarding.get_offboarding(tenant_a.id)["status"] == "waiting" or None, timeout=30)
    assert waiting
    record = offboarding.get_offboarding(tenant_a.id)
    assert record["final_export_id"] and int(record["delete_after"]) > 0
    assert partition_counts(tenant_a.id)["MEMBER"] == 2  # nothing is deleted during the grace period
    with tenant_context(tenant_a.id):
        final = export_selectors.get_export(record["final_export_id"])
        assert final["status"] == "completed" and files.head(final["archive_key"]) is not None
    assert [r for r in trail(tenant_a.id) if r["action"] == "tenant.offboarding_scheduled"]


def test_a_tenant_being_offboarded_cannot_be_reactivated(tenant_a, platform_admin, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 3600
    offboarding.schedule_offboarding(tenant_id=tenant_a.id, actor_id=platform_admin.sub)
    response = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_a.id}/activate")
    assert response.status_code == 409, response.content
    assert tenant_a.admin.client().get("/api/v1/products").status_code == 403


def _creation_quota_used(user_sub: str) -> int:
    item = platform_item(f"TENANTQUOTA#{user_sub}", "created")
    return int(item["used"]["N"]) if item else 0


def test_deleting_a_tenant_gives_its_owner_the_creation_slot_back_exactly_once(make_user, settings):
    settings.TENANTS_PER_USER = 2
    settings.OFFBOARDING_GRACE_SECONDS = 0
    owner = make_user()

    def create(name):
        return owner.client().post("/api/v1/tenants", {"name": name, "tier": "basic"}, format="json")

    first, second = create("First Co"), create("Second Co")
    assert (first.status_code, second.status_code) == (201, 201)
    assert create("Third Co").status_code == 403  # the cap is reached
    leaving = first.json()["id"]
    done = owner.client().put("/api/v1/me/active-tenant", {"tenant_id": leaving}, format="json")
    assert done.status_code == 200, done.content
    scheduled = owner.client().post("/api/v1/tenants/current/offboard", {"confirm_name": "First Co"}, format="json")
    assert scheduled.status_code == 202, scheduled.content
    wait_until(lambda: offboarding.get_offboarding(leaving)["status"] == "completed" or None, timeout=60,
               what="offboarding to complete")
    assert _creation_quota_used(owner.sub) == 1
    receipt = offboarding.get_offboarding(leaving)
    assert receipt["creation_quota_released"] is True

    # A duplicate delivery of the job (acks_late redelivery, the sweep) gives nothing back twice.
    offboarding.run_offboarding(tenant_id=leaving)
    enqueue_offboarding(leaving)
    assert _creation_quota_used(owner.sub) == 1
    assert create("Third Co").status_code == 201  # the freed slot, and only that one
    assert create("Fourth Co").status_code == 403


def test_an_interrupted_deletion_gives_the_slot_back_once_when_it_finishes(make_user, settings, running_worker):
    settings.TENANTS_PER_USER = 3
    settings.OFFBOARDING_GRACE_SECONDS = 0
    owner = make_user()
    created = [owner.client().post("/api/v1/tenants", {"name": f"Co {n}", "tier": "basic"}, format="json")
               for n in range(2)]
    assert [r.status_code for r in created] == [201, 201]
    leaving = created[0].json()["id"]
    with tenant_context(leaving):
        for n in range(3):
            create_product_service(sku=f"SKU-{n}", name=f"P{n}", price="1.00", currency="USD")
    offboarding.schedule_offboarding(tenant_id=leaving, actor_id="platform-admin-test")
    with pytest.raises(offboarding.Interrupted):
        offboarding.run_offboarding(tenant_id=leaving, interrupt_after_pages=1)
    assert _creation_quota_used(owner.sub) == 2  # not yet: the slot comes back with the completion
    for _ in range(2):  # two runs after the kill: a redelivery and the sweep's re-enqueue
        offboarding.run_offboarding(tenant_id=leaving)
    assert offboarding.get_offboarding(leaving)["status"] == "completed"
    assert _creation_quota_used(owner.sub) == 1


def test_a_tenant_an_operator_created_does_not_touch_the_owners_quota(tenant_a, make_user, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 0
    assert tenant_a.admin.client().post("/api/v1/tenants", {"name": "Own Co", "tier": "basic"},
                                        format="json").status_code == 201
    assert _creation_quota_used(tenant_a.admin.sub) == 1
    offboarding.schedule_offboarding(tenant_id=tenant_a.id, actor_id="platform-admin-test")
    assert offboarding.run_offboarding(tenant_id=tenant_a.id)["status"] == "completed"
    assert _creation_quota_used(tenant_a.admin.sub) == 1  # tenant_a was not counted in it (operator-made)


def test_a_scheduled_deletion_is_undone_by_the_owner_or_a_platform_admin_during_the_grace_period_only(
        tenant_a, make_user, platform_admin, settings):
    from tenants.errors import OffboardingError, OwnerRequired

    settings.OFFBOARDING_GRACE_SECONDS = 3600
    member = tenant_a.add(make_user, "admin")
    offboarding.schedule_offboarding(tenant_id=tenant_a.id, actor_id=platform_admin.sub)
    with pytest.raises(OwnerRequired):  # another admin of the tenant is not its owner
        offboarding.cancel_offboarding(tenant_id=tenant_a.id, actor_id=member.sub, as_owner=True)
    restored = offboarding.cancel_offboarding(tenant_id=tenant_a.id, actor_id=platform_admin.sub)
    assert restored["status"] == "active" and "offboarding" not in restored
    assert tenant_a.admin.client().get("/api/v1/tenants/current").status_code == 200  # open again
    with pytest.raises(OffboardingError):  # nothing scheduled any more
        offboarding.cancel_offboarding(tenant_id=tenant_a.id, actor_id=platform_admin.sub)

    settings.OFFBOARDING_GRACE_SECONDS = 0  # scheduled again, and the grace period is already over
    offboarding.schedule_offboarding(tenant_id=tenant_a.id, actor_id=tenant_a.admin.sub, confirm_name="Tenant A",
                                     as_owner=True)
    with pytest.raises(OffboardingError, match="can no longer be cancelled"):
        offboarding.cancel_offboarding(tenant_id=tenant_a.id, actor_id=tenant_a.admin.sub, as_owner=True)
