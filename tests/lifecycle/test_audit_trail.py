"""The audit trail against DynamoDB Local: written with the change, chained, verifiable, listable."""
from __future__ import annotations

import threading

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import audit
from products import services as product_services
from saas import aws
from saas.tenancy import system_context, tenant_context
from saas.tenancy.store import router, serialize
from tests.factories import invite_and_accept
from tests.products.factories import create_product, product_payload

from .factories import trail


def _raw_key(tenant_id: str, seq: int) -> dict:
    return serialize({"PK": f"TENANT#{tenant_id}#AUDIT", "SK": f"{seq:012d}"})


def test_product_changes_are_recorded_with_actor_request_and_diff(tenant_a, manager):
    client = manager.client()
    product = create_product(client, name="Mug", price="5.00")
    response = client.patch(f"/api/v1/products/{product['id']}", {"name": "Big Mug", "price": "6.50"}, format="json",
                            REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    client.delete(f"/api/v1/products/{product['id']}", format="json")

    records = [r for r in trail(tenant_a.id) if r["target_id"] == product["id"]]
    assert [r["action"] for r in records] == ["product.created", "product.updated", "product.deleted"]
    created, updated, deleted = records
    assert created["changes"]["name"] == [None, "Mug"]
    assert updated["changes"] == {"name": ["Mug", "Big Mug"], "price": [pytest.approx(5), pytest.approx(6.5)]}
    assert "sku" not in updated["changes"]  # unchanged fields are not recorded
    assert deleted["changes"]["name"] == ["Big Mug", None]
    assert updated["actor_type"] == "user" and updated["actor_id"] == manager.sub
    assert updated["actor_email"] == manager.email
    assert updated["source_ip"] == "203.0.113.9"
    assert updated["request_id"] == response["X-Request-Id"] and len(updated["request_id"]) >= 16
    assert updated["target_type"] == "product" and updated["tenant_id"] == tenant_a.id


def test_a_change_that_fails_writes_no_record(tenant_a, manager):
    client = manager.client()
    create_product(client, sku="DUP-1")
    before = len(trail(tenant_a.id))
    response = client.post("/api/v1/products", product_payload(sku="DUP-1"), format="json")
    assert response.status_code == 409
    assert len(trail(tenant_a.id)) == before


def test_records_are_chained_and_the_verifier_accepts_an_intact_trail(tenant_a, manager):
    client = manager.client()
    for n in range(3):
        create_product(client, name=f"P{n}")
    records = trail(tenant_a.id)
    assert [int(r["seq"]) for r in records] == list(range(1, len(records) + 1))
    assert records[0]["prev_hash"] == audit.GENESIS
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in zip(records, records[1:], strict=False))
    with system_context(reason="test"):
        result = audit.verify_chain(tenant_id=tenant_a.id)
    assert result.ok, result.problems
    assert result.records == len(records)
    call_command("verify_audit_chain", tenant=tenant_a.id)  # exits 0


def _tamper(tenant_id: str, seq: int, expression: str, values: dict, names: dict | None = None) -> None:
    aws.client("dynamodb").update_item(TableName=router.table_for(tenant_id), Key=_raw_key(tenant_id, seq),
                                       UpdateExpression=expression, ExpressionAttributeValues=serialize(values),
                                       **({"ExpressionAttributeNames": names} if names else {}))


def test_the_verifier_detects_an_edited_record(tenant_a, manager):
    client = manager.client()
    for n in range(3):
        create_product(client, name=f"P{n}")
    _tamper(tenant_a.id, 2, "SET actor_email = :e", {":e": "someone-else@example.test"})
    with pytest.raises(CommandError, match="broken"):
        call_command("verify_audit_chain", tenant=tenant_a.id)
    with system_context(reason="test"):
        result = audit.verify_chain(tenant_id=tenant_a.id)
    assert any("seq 2" in p and "edited" in p for p in result.problems), result.problems


def test_the_verifier_detects_a_rehashed_edit_and_deletions(tenant_a, manager):
    client = manager.client()
    for n in range(5):
        create_product(client, name=f"P{n}")
    records = trail(tenant_a.id)
    # An attacker who edits a record and recomputes its hash still breaks the next record's link.
    edited = {**records[1], "action": "product.viewed"}
    _tamper(tenant_a.id, 2, "SET #a = :a, #h = :h", {":a": "product.viewed", ":h": audit.record_hash(edited)},
            {"#a": "action", "#h": "hash"})
    aws.client("dynamodb").delete_item(TableName=router.table_for(tenant_a.id), Key=_raw_key(tenant_a.id, 4))
    with system_context(reason="test"):
        problems = audit.verify_chain(tenant_id=tenant_a.id).problems
    assert any("record seq 3: does not link" in p for p in problems), problems
    assert any("records 4..4 are missing" in p for p in problems), problems


def test_the_verifier_detects_a_truncated_tail(tenant_a, manager, settings):
    """The head is checkpointed every AUDIT_CHECKPOINT_EVERY records; cutting the trail back past
    the last checkpoint is detected (with 1, the removal of even the newest record is)."""
    settings.AUDIT_CHECKPOINT_EVERY = 4
    client = manager.client()
    for n in range(6):
        create_product(client, name=f"P{n}")
    last = len(trail(tenant_a.id))
    assert last == 7  # tenant.created + 6 products: checkpointed at seq 4
    with system_context(reason="test"):
        assert audit.verify_chain(tenant_id=tenant_a.id).ok
    for seq in range(last, 3, -1):  # back past the checkpoint at seq 4
        aws.client("dynamodb").delete_item(TableName=router.table_for(tenant_a.id), Key=_raw_key(tenant_a.id, seq))
    with system_context(reason="test"):
        problems = audit.verify_chain(tenant_id=tenant_a.id).problems
    assert any("checkpointed at seq 4" in p for p in problems), problems


def test_with_a_checkpoint_per_record_removing_the_newest_is_detected(tenant_a, manager, settings):
    settings.AUDIT_CHECKPOINT_EVERY = 1
    client = manager.client()
    for n in range(2):
        create_product(client, name=f"P{n}")
    last = len(trail(tenant_a.id))
    aws.client("dynamodb").delete_item(TableName=router.table_for(tenant_a.id), Key=_raw_key(tenant_a.id, last))
    with system_context(reason="test"):
        problems = audit.verify_chain(tenant_id=tenant_a.id).problems
    assert any(f"checkpointed at seq {last}" in p for p in problems), problems


def test_concurrent_writers_from_many_processes_keep_one_linear_chain(tenant_a):
    """Each thread has its own stale view of the head (as separate processes would): the head's
    condition serialises them, the losers retry, and the chain stays gap-free."""
    with tenant_context(tenant_a.id, user_id="u", roles={"admin"}):
        products = [product_services.create_product(sku=f"C-{n}", name="x", price="1.00", currency="USD")
                    for n in range(6)]
    errors: list[Exception] = []

    def writer(product: dict) -> None:
        try:
            with tenant_context(tenant_a.id, user_id="u", roles={"admin"}):
                for n in range(4):
                    audit.heads.forget(tenant_a.id)  # every write starts from a possibly stale head
                    product_services.update_product(product_id=product["id"], changes={"name": f"n{n}"})
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in products]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    records = trail(tenant_a.id)
    assert len([r for r in records if r["action"] == "product.updated"]) == 24
    assert [int(r["seq"]) for r in records] == list(range(1, len(records) + 1))
    with system_context(reason="test"):
        assert audit.verify_chain(tenant_id=tenant_a.id).ok


def test_retention_follows_the_tier(make_tenant, settings):
    import time

    settings.AUDIT_RETENTION_DAYS = {**settings.AUDIT_RETENTION_DAYS, "basic": 30, "premium": 400}
    for tier, days in (("basic", 30), ("premium", 400)):
        tenant = make_tenant(tier=tier)
        with tenant_context(tenant.id, user_id=tenant.admin.sub, roles={"admin"}, tier=tier):
            product_services.create_product(sku="R-1", name="x", price="1.00", currency="USD")
        record = trail(tenant.id)[-1]
        assert abs(int(record["expires_at"]) - (time.time() + days * 86400)) < 120


def test_admins_list_and_filter_their_trail_paged(tenant_a, tenant_b, manager):
    client = manager.client()
    first = create_product(client, name="A")
    create_product(client, name="B")
    client.patch(f"/api/v1/products/{first['id']}", {"name": "A2"}, format="json")
    admin = tenant_a.admin.client()

    page = admin.get("/api/v1/audit", {"limit": 2})
    assert page.status_code == 200, page.content
    body = page.json()
    assert len(body["results"]) == 2 and body["next_cursor"]
    assert body["results"][0]["action"] == "product.updated"  # newest first
    rest = admin.get("/api/v1/audit", {"limit": 100, "cursor": body["next_cursor"]}).json()
    seqs = [r["seq"] for r in body["results"] + rest["results"]]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == len(seqs)

    only_updates = admin.get("/api/v1/audit", {"action": "product.updated"}).json()["results"]
    assert [r["target_id"] for r in only_updates] == [first["id"]]
    by_target = admin.get("/api/v1/audit", {"target_type": "product", "target_id": first["id"]}).json()["results"]
    assert {r["action"] for r in by_target} == {"product.created", "product.updated"}
    by_actor = admin.get("/api/v1/audit", {"actor": manager.email, "action": "product.*"}).json()["results"]
    assert len(by_actor) == 3
    future = admin.get("/api/v1/audit", {"since": "2999-01-01T00:00:00Z"}).json()["results"]
    assert future == []

    # The cursor is bound to tenant and query: another tenant's admin, or other filters, get a 400.
    assert tenant_b.admin.client().get("/api/v1/audit", {"cursor": body["next_cursor"]}).status_code == 400
    assert admin.get("/api/v1/audit", {"cursor": body["next_cursor"], "action": "x.y"}).status_code == 400
    assert admin.get("/api/v1/audit", {"cursor": body["next_cursor"][:-3] + "abc"}).status_code == 400
    # Tenant B sees none of A's records.
    assert all(r["tenant_id"] == tenant_b.id for r in tenant_b.admin.client().get("/api/v1/audit").json()["results"])


def test_only_admins_read_the_trail_and_bad_filters_are_named(tenant_a, manager):
    assert manager.client().get("/api/v1/audit").status_code == 403
    response = tenant_a.admin.client().get("/api/v1/audit", {"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()["fields"]


def test_secrets_are_never_recorded():
    scrubbed = audit.scrub({"name": "x", "client_secret": "s3cr3t", "nested": {"password": "p"},
                            "url": "https://user:pw@hooks.example.test/in?token=abc"})
    assert scrubbed["client_secret"] == "[redacted]" and scrubbed["nested"]["password"] == "[redacted]"
    assert scrubbed["url"] == "https://hooks.example.test/in?[redacted]"
    assert "s3cr3t" not in repr(scrubbed) and "abc" not in repr(scrubbed) and "pw@" not in repr(scrubbed)


def test_members_tenant_settings_and_platform_actions_are_audited(tenant_a, make_user, settings):
    from audit import PLATFORM  # noqa: F401  (the platform trail)

    platform_admin = make_user(groups=("system_admin",))
    admin = tenant_a.admin.client()
    person = make_user()
    assert invite_and_accept(tenant_a.admin, person, "viewer").status_code == 200
    user_id = person.sub
    assert admin.patch(f"/api/v1/tenants/current/members/{user_id}", {"role": "manager"},
                       format="json").status_code == 200
    assert admin.delete(f"/api/v1/tenants/current/members/{user_id}").status_code == 204
    assert admin.patch("/api/v1/tenants/current", {"name": "Renamed A"}, format="json").status_code == 200
    ops = platform_admin.client()
    assert ops.patch(f"/api/v1/admin/tenants/{tenant_a.id}", {"tier": "standard"}, format="json").status_code == 200
    assert ops.post(f"/api/v1/admin/tenants/{tenant_a.id}/deactivate").status_code == 200

    records = trail(tenant_a.id)
    by_action = {r["action"]: r for r in records}
    assert {"tenant.created", "member.invited", "member.role_changed", "member.removed", "tenant.renamed",
            "tenant.tier_changed", "tenant.deactivated"} <= set(by_action)
    assert by_action["member.role_changed"]["changes"] == {"role": ["viewer", "manager"]}
    assert by_action["member.invited"]["actor_id"] == tenant_a.admin.sub
    # the tenant's trail says "platform operator"; the platform trail (below) says who
    assert by_action["tenant.deactivated"]["actor_type"] == "operator"
    assert platform_admin.sub not in str(by_action["tenant.deactivated"])
    assert by_action["tenant.tier_changed"]["changes"] == {"tier": ["basic", "standard"]}
    with system_context(reason="test"):
        assert audit.verify_chain(tenant_id=tenant_a.id).ok

    platform = platform_admin.client().get("/api/v1/admin/audit", {"target_id": tenant_a.id}).json()["results"]
    assert [r["action"] for r in platform][:3] == ["tenant.deactivated", "tenant.tier_changed", "tenant.created"]
    assert all(r["tenant_id"] == tenant_a.id for r in platform)
    assert platform[0]["actor_id"] == platform_admin.sub
    assert tenant_a.admin.client().get("/api/v1/admin/audit").status_code == 403


def test_webhook_changes_are_audited_without_secrets(tenant_a):
    from devstack.webhook_receiver import Receiver

    receiver = Receiver()
    try:
        admin = tenant_a.admin.client()
        url = receiver.url("/hook") + "?token=s3cr3t"
        created = admin.post("/api/v1/webhooks/subscriptions", {"event_type": "order.created", "url": url},
                             format="json")
        assert created.status_code == 201, created.content
        assert admin.delete(f"/api/v1/webhooks/subscriptions/{created.json()['id']}").status_code == 204
    finally:
        receiver.stop()
    records = [r for r in trail(tenant_a.id) if r["action"].startswith("webhook.")]
    assert [r["action"] for r in records] == ["webhook.subscribed", "webhook.unsubscribed"]
    assert "s3cr3t" not in repr(records)
    assert records[0]["changes"]["url"][1].endswith("/hook?[redacted]")


# --- a keyed chain, a signed head, and digests outside DynamoDB ---------------------------------------
def _head_key(tenant_id: str) -> dict:
    return serialize({"PK": f"TENANT#{tenant_id}#AUDITHEAD", "SK": audit.HEAD_ID})


def _unkeyed_hash(record: dict) -> str:
    """What an attacker who can write the table but cannot read the chain key can compute."""
    import hashlib
    import json

    body = audit.chain._canonical({name: record.get(name) for name in audit.HASHED_FIELDS})
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest()


@pytest.fixture
def digest_prefix(settings):
    """Each test's digests under their own prefix (the digest chain of one deployment)."""
    import uuid

    settings.AUDIT_DIGEST_PREFIX = f"audit-digests/test-{uuid.uuid4().hex[:12]}/"
    return settings.AUDIT_DIGEST_PREFIX


def test_deleting_the_newest_records_and_the_head_is_detected(tenant_a, manager, digest_prefix):
    client = manager.client()
    for n in range(4):
        create_product(client, name=f"P{n}")
    last = len(trail(tenant_a.id))
    table = router.table_for(tenant_a.id)
    for seq in (last, last - 1):
        aws.client("dynamodb").delete_item(TableName=table, Key=_raw_key(tenant_a.id, seq))
    aws.client("dynamodb").delete_item(TableName=table, Key=_head_key(tenant_a.id))
    with system_context(reason="test"):
        result = audit.verify_chain(tenant_id=tenant_a.id)
    assert not result.ok, "the trail without its newest records and head passed as intact"
    assert any("head is missing" in p for p in result.problems), result.problems


def test_an_edit_rehashed_without_the_key_and_a_moved_head_are_detected(tenant_a, manager, digest_prefix):
    """The attacker can write DynamoDB (not Secrets Manager): she edits record 2, recomputes every
    later hash and link with the hash function she has, and moves the head to the new tip."""
    client = manager.client()
    for n in range(4):
        create_product(client, name=f"P{n}")
    records = trail(tenant_a.id)
    table = router.table_for(tenant_a.id)
    prev_hash = records[0]["hash"]
    for record in records[1:]:
        forged = {**record, "prev_hash": prev_hash}
        if int(record["seq"]) == 2:
            forged["actor_email"] = "someone-else@example.test"
        forged["hash"] = _unkeyed_hash(forged)
        _tamper(tenant_a.id, int(record["seq"]), "SET actor_email = :e, prev_hash = :p, #h = :h",
                {":e": forged.get("actor_email"), ":p": forged["prev_hash"], ":h": forged["hash"]}, {"#h": "hash"})
        prev_hash = forged["hash"]
    aws.client("dynamodb").update_item(TableName=table, Key=_head_key(tenant_a.id),
                                       UpdateExpression="SET #h = :h, head_mac = :m",
                                       ExpressionAttributeNames={"#h": "hash"},
                                       ExpressionAttributeValues=serialize({":h": prev_hash, ":m": _unkeyed_hash(
                                           {"seq": len(records), "hash": prev_hash})}))
    with system_context(reason="test"):
        result = audit.verify_chain(tenant_id=tenant_a.id)
    assert not result.ok, "an edit re-hashed without the key passed as intact"
    assert any("seq 2" in p and "edited" in p for p in result.problems), result.problems
    assert any("head" in p and "not signed" in p for p in result.problems), result.problems


def test_a_rollback_with_a_validly_signed_head_contradicts_the_digest(tenant_a, manager, digest_prefix):
    """Even an insider holding the key (or replaying an old head item) cannot roll a trail back past
    a digest: the digest lives in S3 under a prefix the functions can only add to."""
    client = manager.client()
    for n in range(3):
        create_product(client, name=f"P{n}")
    with system_context(reason="test"):
        digest = audit.write_digest()
    last = len(trail(tenant_a.id))
    table = router.table_for(tenant_a.id)
    aws.client("dynamodb").delete_item(TableName=table, Key=_raw_key(tenant_a.id, last))
    kept = trail(tenant_a.id)[-1]
    aws.client("dynamodb").update_item(
        TableName=table, Key=_head_key(tenant_a.id), UpdateExpression="SET seq = :s, #h = :h, head_mac = :m",
        ExpressionAttributeNames={"#h": "hash"},
        ExpressionAttributeValues=serialize({":s": int(kept["seq"]), ":h": kept["hash"],
                                             ":m": audit.head_mac(tenant_a.id, int(kept["seq"]), kept["hash"])}))
    with system_context(reason="test"):
        problems = audit.verify_chain(tenant_id=tenant_a.id).problems
        assert audit.verify_chain(tenant_id=tenant_a.id, digests=False).ok  # DynamoDB alone cannot tell
    assert any(f"digest {digest} anchored seq {last}" in p for p in problems), problems


def test_digests_are_chained_signed_and_never_overwritten(tenant_a, manager, digest_prefix):
    from botocore.exceptions import ClientError

    from saas import buckets

    create_product(manager.client(), name="P")
    with system_context(reason="test"):
        first = audit.write_digest(now=1_800_000_000.0)
        second = audit.write_digest(now=1_800_003_600.0)
        assert audit.verify_chain(tenant_id=tenant_a.id).ok
    body = audit.verification._read_digest(second)
    assert body["previous_key"] == first and body["trails"][tenant_a.id]["seq"] == len(trail(tenant_a.id))
    s3, bucket = buckets.s3_client(), buckets.bucket_name()
    with pytest.raises(ClientError) as refused:  # If-None-Match: the digest cannot be replaced
        s3.put_object(Bucket=bucket, Key=first, Body=b"{}", IfNoneMatch="*")
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"
    forged = {**audit.verification._read_digest(first), "trails": {}}
    s3.put_object(Bucket=bucket, Key=f"{digest_prefix}20270101T000000000000Z-forged.json",
                  Body=__import__("json").dumps(forged).encode())
    with system_context(reason="test"):
        problems = audit.verify_chain(tenant_id=tenant_a.id).problems
    assert any("forged.json: not signed" in p for p in problems), problems


def test_the_functions_may_add_digests_but_never_delete_or_list_them_away():
    """The IAM half of 'append-only' (the bucket policy's half is in docs/ARCHITECTURE.md)."""
    from devstack import iam
    from devstack.lambda_package import stages

    for stage in stages():
        policy = iam.load_policy(stage)
        bucket = iam.placeholder_names(stage)["FilesBucket"]  # the stack names it (with the account)
        digest = f"arn:aws:s3:::{bucket}/audit-digests/20270101T000000Z.json"
        assert iam.allows(policy, "s3:PutObject", digest) and iam.allows(policy, "s3:GetObject", digest)
        for action in ("s3:DeleteObject", "s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration",
                       "s3:PutBucketPolicy", "s3:PutObjectRetention", "s3:BypassGovernanceRetention"):
            assert not iam.allows(policy, action, digest), (stage, action)
            assert not iam.allows(policy, action, f"arn:aws:s3:::{bucket}"), (stage, action)
