"""Self-service registration: POST /tenants. Pooled tiers are created at once (201) in the pooled
table. Platinum is accepted (202) as ``provisioning`` and built by a real worker (``celery -A saas
worker`` against a Redis of this module): its owner watches it in GET /me (the ``Location``) until it
is a membership (silo table recorded in the routing map), or ``failed`` with a reason and nothing
half-made. Broker down: 503, nothing written. A lost job is re-enqueued by the outbox sweep."""
from __future__ import annotations

import base64
import json
import socket

import pytest
import redis as redis_py
from botocore.exceptions import ClientError

from saas import aws
from saas.tasks import sweep
from saas.tenancy import system_context, tables, tenant_context
from saas.tenancy.context import TENANT_ID_PATTERN
from saas.tenancy.store import router, serialize
from tenants import services
from tenants.errors import InvalidTransition, ProvisioningFailed
from tenants.models import TENANT_DIRECTORY, Member, Tenant, TenantRegistration, UserMembership
from tenants.tasks import provision_silo
from tests.factories import unique
from tests.jobs.harness import use_broker, wait_until


def table_exists(name: str) -> bool:
    try:
        aws.client("dynamodb").describe_table(TableName=name)
        return True
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "ResourceNotFoundException"
        return False


def all_tables() -> list[str]:
    names, kwargs = [], {}
    while True:
        page = aws.client("dynamodb").list_tables(**kwargs)
        names += page["TableNames"]
        if not page.get("LastEvaluatedTableName"):
            return names
        kwargs = {"ExclusiveStartTableName": page["LastEvaluatedTableName"]}


def routed_table(tenant_id: str) -> str | None:
    raw = aws.client("dynamodb").get_item(TableName=router.pooled_table, ConsistentRead=True,
                                           Key=serialize({"PK": router.ROUTING_PK, "SK": tenant_id})).get("Item")
    return raw["table"]["S"] if raw else None


@pytest.fixture
def newcomer(make_user):
    return make_user()


def directory_record(tenant_id: str) -> dict:
    with system_context(reason="test: read the tenant directory"):
        return Tenant.objects.get(TENANT_DIRECTORY, tenant_id, consistent=True)


def registration_exists(owner_id: str, tenant_id: str) -> bool:
    with system_context(reason="test: read registrations"):
        return any(r["id"] == tenant_id for r in TenantRegistration.objects.query(owner_id, limit=100).items)


def tenants_created_by(user_id: str) -> list[dict]:
    found, cursor = [], None
    while True:
        with system_context(reason="test: walk the tenant directory"):
            page = Tenant.objects.query(TENANT_DIRECTORY, cursor=cursor, limit=100)
        found += [t for t in page.items if t.get("created_by") == user_id]
        cursor = page.next_cursor
        if not cursor:
            return found


def assert_nothing_half_made(tenant_id: str, owner_id: str) -> None:
    """No table, no route, no membership (neither half of the pair)."""
    assert not any(tenant_id in name for name in all_tables())
    assert routed_table(tenant_id) is None
    with tenant_context(tenant_id):
        assert Member.objects.query().items == []
    with system_context(reason="test: read memberships"):
        assert all(m["tenant_id"] != tenant_id for m in UserMembership.objects.query(owner_id, limit=100).items)


def queued(client: redis_py.Redis) -> list[tuple[dict, bytes]]:
    """(message, raw) for every message waiting in the default queue."""
    return [(json.loads(raw), raw) for raw in client.lrange("celery", 0, -1)]


def args_of(message: dict) -> list:
    return json.loads(base64.b64decode(message["body"]))[0]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def silo_cleanup():
    created: list[str] = []
    yield created
    for name in created:
        tables.delete_table(name)


@pytest.mark.parametrize("tier", ["basic", "standard", "premium"])
def test_pooled_registration_makes_the_caller_admin_of_a_random_id_tenant(newcomer, tier):
    client = newcomer.client()
    response = client.post("/api/v1/tenants", {"name": "Shop", "tier": tier}, format="json")
    assert response.status_code == 201, response.content
    tenant = response.json()
    assert TENANT_ID_PATTERN.fullmatch(tenant["id"]) and len(tenant["id"]) >= 20
    assert tenant | {"id": None} == tenant | {"id": None, "name": "Shop", "tier": tier, "status": "active",
                                              "deployment": "pooled"}
    assert routed_table(tenant["id"]) is None
    me = client.get("/api/v1/me").json()
    assert me["active_tenant"]["id"] == tenant["id"] and me["active_tenant"]["roles"] == ["admin"]
    current = client.get("/api/v1/tenants/current")
    assert current.status_code == 200 and current.json()["name"] == "Shop"


def test_two_registrations_get_different_unguessable_ids(newcomer, settings):
    settings.TENANTS_PER_USER = 10
    ids = {newcomer.client().post("/api/v1/tenants", {"name": f"S{n}", "tier": "basic"}, format="json").json()["id"]
           for n in range(5)}
    assert len(ids) == 5


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "tier": "gold"}, "tier"),
    ({"name": "x"}, "tier"),
    ({"tier": "basic"}, "name"),
    ({"name": "", "tier": "basic"}, "name"),
    ({"name": "x" * 101, "tier": "basic"}, "name"),
    ({"name": ["x"], "tier": "basic"}, "name"),
])
def test_bad_registration_is_400_naming_the_field(newcomer, body, field):
    response = newcomer.client().post("/api/v1/tenants", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid" and field in response.json()["fields"]


def test_registration_needs_a_token(client):
    assert client.post("/api/v1/tenants", {"name": "x", "tier": "basic"},
                       content_type="application/json").status_code == 401


def test_platinum_is_accepted_then_built_by_a_worker_while_the_owner_watches_in_me(
        newcomer, platform_admin, running_worker, broker_redis, silo_cleanup):
    client = newcomer.client()
    running_worker.stop()  # so "provisioning" can be seen, and the job inspected, before it runs
    broker_redis.delete("celery")
    response = client.post("/api/v1/tenants", {"name": "Big Co", "tier": "platinum"}, format="json")
    assert response.status_code == 202, response.content
    tenant = response.json()
    silo_cleanup.append(services.silo_table_name(tenant["id"]))
    assert TENANT_ID_PATTERN.fullmatch(tenant["id"])
    assert {k: tenant[k] for k in ("name", "tier", "status", "deployment")} == {
        "name": "Big Co", "tier": "platinum", "status": "pending_approval", "deployment": "silo"}
    assert response["Location"] == "/api/v1/me" and response["Retry-After"]
    assert queued(broker_redis) == []  # nothing is built before a platform admin approves
    approved = platform_admin.client().post(f"/api/v1/admin/tenants/{tenant['id']}/approve")
    assert approved.status_code == 200 and approved.json()["status"] == "provisioning"
    tenant = {**tenant, "status": "provisioning"}

    # One platform job for it, carrying no tenant header (and the owner's "approved" email job).
    jobs = {message["headers"]["task"]: message for message, _ in queued(broker_redis)}
    assert sorted(jobs) == ["mail.send", "tenants.provision_silo"]
    job = jobs["tenants.provision_silo"]
    assert args_of(job) == [tenant["id"]]
    assert args_of(jobs["mail.send"])[2] == "Big Co was approved"
    assert "tenant_id" not in job["headers"]

    # Not a member yet: the owner sees it as pending, and has no tenant to act in.
    me = client.get(response["Location"]).json()
    assert me["pending_tenants"] == [{"id": tenant["id"], "name": "Big Co", "tier": "platinum",
                                      "status": "provisioning", "failure_reason": None,
                                      "created_at": tenant["created_at"]}]
    assert me["memberships"] == [] and me["active_tenant"] is None
    assert client.get("/api/v1/tenants/current").status_code == 403

    running_worker.start()
    me = wait_until(lambda: (body := client.get("/api/v1/me").json())["memberships"] and body,
                    what="the owner's membership")
    assert me["pending_tenants"] == []
    assert me["memberships"] == [{"tenant": {"id": tenant["id"], "name": "Big Co", "tier": "platinum",
                                             "status": "active"}, "role": "admin"}]
    assert me["active_tenant"]["id"] == tenant["id"] and me["active_tenant"]["roles"] == ["admin"]

    # Its own table, recorded in the routing map; the owner's membership lives there, not in the pool.
    silo = services.silo_table_name(tenant["id"])
    assert table_exists(silo) and routed_table(tenant["id"]) == silo
    key = serialize({"PK": f"TENANT#{tenant['id']}#MEMBER", "SK": newcomer.sub})
    assert "Item" in aws.client("dynamodb").get_item(TableName=silo, Key=key, ConsistentRead=True)
    assert "Item" not in aws.client("dynamodb").get_item(TableName=router.pooled_table, Key=key, ConsistentRead=True)
    assert not registration_exists(newcomer.sub, tenant["id"])
    current = client.get("/api/v1/tenants/current")
    assert current.status_code == 200 and current.json()["status"] == "active"
    members = client.get("/api/v1/tenants/current/members")
    assert members.status_code == 200 and [m["user_id"] for m in members.json()["results"]] == [newcomer.sub]

    # The job delivered again (a redelivery, a sweep) changes nothing.
    before = directory_record(tenant["id"])
    assert provision_silo(tenant["id"]) == "skipped"
    assert directory_record(tenant["id"]) == before


def test_failed_provisioning_shows_failed_with_a_reason_and_leaves_nothing_half_made(
        newcomer, platform_admin, running_worker, settings):
    # A real failure from the real server: DynamoDB refuses the table name (recorded at registration).
    settings.DYNAMODB_SILO_TABLE_PREFIX = "bad name!"
    client = newcomer.client()
    response = client.post("/api/v1/tenants", {"name": "Doomed", "tier": "platinum"}, format="json")
    assert response.status_code == 202, response.content
    tenant_id = response.json()["id"]
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_id}/approve").status_code == 200

    me = wait_until(lambda: (body := client.get("/api/v1/me").json())["pending_tenants"][0]["status"] == "failed"
                    and body, what="provisioning failed")
    [pending] = me["pending_tenants"]
    assert pending["id"] == tenant_id and "ValidationException" in pending["failure_reason"]
    assert me["memberships"] == [] and me["active_tenant"] is None
    record = platform_admin.client().get(f"/api/v1/admin/tenants/{tenant_id}").json()
    assert record["created_by"] == newcomer.sub
    assert record["status"] == "failed" and record["failure_reason"] == pending["failure_reason"]
    assert_nothing_half_made(tenant_id, newcomer.sub)
    assert "table" not in directory_record(tenant_id)

    # Nothing reruns a failed tenant.
    assert provision_silo(tenant_id) == "skipped"
    with pytest.raises(InvalidTransition):
        services.provision_silo_tenant(tenant_id=tenant_id)


def test_broker_down_is_a_503_that_writes_nothing(newcomer, platform_admin, settings):
    settings.DYNAMODB_SILO_TABLE_PREFIX = prefix = unique("saas-local-nobroker-")
    client = newcomer.client()
    with use_broker(f"redis://127.0.0.1:{closed_port()}/0"):
        requested = client.post("/api/v1/tenants", {"name": "Too Soon", "tier": "platinum"}, format="json")
        assert requested.status_code == 202 and requested.json()["status"] == "pending_approval"  # needs no job yet
        refused = platform_admin.client().post(f"/api/v1/admin/tenants/{requested.json()['id']}/approve")
        assert refused.status_code == 503 and refused["Retry-After"]
        assert {k: refused.json()[k] for k in ("code", "dependency")} == {"code": "service_unavailable",
                                                                           "dependency": "broker"}
        me = client.get("/api/v1/me").json()
        assert [p["status"] for p in me["pending_tenants"]] == ["pending_approval"] and me["memberships"] == []
        assert [t["status"] for t in tenants_created_by(newcomer.sub)] == ["pending_approval"]
        assert not any(name.startswith(prefix) for name in all_tables())

        # Pooled tiers need no job: still created at once.
        pooled = client.post("/api/v1/tenants", {"name": "Small Co", "tier": "basic"}, format="json")
        assert pooled.status_code == 201 and pooled.json()["status"] == "active"


def test_the_sweep_re_enqueues_provisioning_whose_job_was_lost(newcomer, make_user, running_worker, broker_redis,
                                                               silo_cleanup):
    running_worker.stop()
    broker_redis.delete("celery")
    # Recorded as provisioning, but the job never reached the broker; ten minutes ago.
    stuck = services.start_silo_tenant(name="Stranded", owner_id=newcomer.sub, owner_email=newcomer.email)
    silo_cleanup.append(stuck["table"])
    aws.client("dynamodb").update_item(
        TableName=router.pooled_table, Key=serialize({"PK": f"{Tenant.entity}#{TENANT_DIRECTORY}", "SK": stuck["id"]}),
        UpdateExpression="SET updated_at = :then", ExpressionAttributeValues=serialize({":then": "2000-01-01T00:00:00.000Z"}))
    # Another one registered just now: its job may well still be on its way.
    other = make_user()
    fresh = services.start_silo_tenant(name="Fresh", owner_id=other.sub, owner_email=other.email)
    silo_cleanup.append(fresh["table"])
    client = newcomer.client()
    assert [p["status"] for p in client.get("/api/v1/me").json()["pending_tenants"]] == ["provisioning"]

    enqueued = sweep()
    messages = queued(broker_redis)
    assert len(messages) == enqueued
    provisioning = [(m, raw) for m, raw in messages if m["headers"]["task"] == "tenants.provision_silo"]
    assert [args_of(m) for m, _ in provisioning].count([stuck["id"]]) == 1
    assert [fresh["id"]] not in [args_of(m) for m, _ in provisioning]
    assert all("tenant_id" not in m["headers"] for m, _ in provisioning)

    # Run only that job (the rest belong to other tests sharing DynamoDB Local).
    broker_redis.delete("celery")
    broker_redis.lpush("celery", next(raw for m, raw in provisioning if args_of(m) == [stuck["id"]]))
    running_worker.start()
    # One /me resolves the active tenant before it lists memberships: a poll that lands between the
    # worker's commit and those two reads may see the membership a moment before the active tenant.
    me = wait_until(lambda: (body := client.get("/api/v1/me").json())["memberships"] and body["active_tenant"] and body,
                    what="the stuck tenant provisioned")
    assert me["pending_tenants"] == [] and me["active_tenant"]["id"] == stuck["id"]
    assert routed_table(stuck["id"]) == stuck["table"]
    assert directory_record(fresh["id"])["status"] == "provisioning"


def _set_attempt(tenant: dict, *, attempts: int) -> dict:
    """As if a worker had claimed the tenant ``attempts`` times (and died in the last attempt)."""
    with system_context(reason="test: a claimed attempt"):
        return Tenant.objects.put(TENANT_DIRECTORY, tenant["id"], expected_version=tenant["version"],
                                  **{**tenant, "provisioning_attempts": attempts})


def test_an_attempt_in_progress_is_not_duplicated_and_a_dead_one_is_taken_over(newcomer, settings, silo_cleanup):
    tenant = services.start_silo_tenant(name="Claimed", owner_id=newcomer.sub, owner_email=newcomer.email)
    silo_cleanup.append(tenant["table"])
    claimed = _set_attempt(tenant, attempts=1)

    # Another delivery while the attempt holds the tenant does nothing.
    assert provision_silo(tenant["id"]) == "skipped"
    assert directory_record(tenant["id"]) == claimed and not table_exists(tenant["table"])

    # Once the attempt counts as dead (no progress for the retry period), the next one takes over.
    settings.TENANT_PROVISIONING_RETRY_SECONDS = 0
    assert provision_silo(tenant["id"]) == "active"
    record = directory_record(tenant["id"])
    assert record["status"] == "active" and record["provisioning_attempts"] == 2
    assert routed_table(tenant["id"]) == tenant["table"]
    assert newcomer.client().get("/api/v1/tenants/current").json()["id"] == tenant["id"]


def test_provisioning_is_given_up_after_the_last_attempt(newcomer, settings):
    tenant = services.start_silo_tenant(name="Cursed", owner_id=newcomer.sub, owner_email=newcomer.email)
    _set_attempt(tenant, attempts=settings.TENANT_PROVISIONING_MAX_ATTEMPTS)
    settings.TENANT_PROVISIONING_RETRY_SECONDS = 0
    tables.ensure_table(tenant["table"])  # what the dead attempts left behind

    assert provision_silo(tenant["id"]) == "failed"
    record = directory_record(tenant["id"])
    assert record["status"] == "failed" and "gave up after" in record["failure_reason"]
    assert_nothing_half_made(tenant["id"], newcomer.sub)
    [pending] = newcomer.client().get("/api/v1/me").json()["pending_tenants"]
    assert (pending["id"], pending["status"]) == (tenant["id"], "failed")


def test_operators_register_platinum_synchronously(newcomer, silo_cleanup):
    """manage.py create_tenant and seed_demo wait for the tenant (no 29 s request limit there)."""
    tenant = services.register_tenant(name="Ops Co", tier="platinum", owner_id=newcomer.sub,
                                      owner_email=newcomer.email)
    silo_cleanup.append(tenant["table"])
    assert tenant["status"] == "active" and routed_table(tenant["id"]) == tenant["table"]
    me = newcomer.client().get("/api/v1/me").json()
    assert me["active_tenant"]["id"] == tenant["id"] and me["pending_tenants"] == []


def test_failure_inside_the_activation_transaction_also_cleans_up(newcomer, silo_cleanup):
    """The table exists (left over by a crashed attempt, with an item in the way), so the
    all-or-nothing activation transaction is refused by the server: the table is dropped, the
    tenant is failed with the reason, and no route or membership was written."""
    tenant = services.start_silo_tenant(name="Leftover", owner_id=newcomer.sub, owner_email=newcomer.email)
    silo_cleanup.append(tenant["table"])
    tables.ensure_table(tenant["table"])
    aws.client("dynamodb").put_item(TableName=tenant["table"], Item=serialize({
        "PK": f"TENANT#{tenant['id']}#MEMBER", "SK": newcomer.sub, "tenant_id": tenant["id"], "id": newcomer.sub,
        "role": "viewer", "version": 1}))
    with pytest.raises(ProvisioningFailed) as info:
        services.provision_silo_tenant(tenant_id=tenant["id"])
    assert "ConditionalCheckFailed" in info.value.reason
    with system_context(reason="test: read back"):
        assert UserMembership.objects.query(newcomer.sub).items == []
    record = directory_record(tenant["id"])
    assert record["status"] == "failed" and "ConditionalCheckFailed" in record["failure_reason"]
    assert "table" not in record
    assert not table_exists(tenant["table"])
    assert routed_table(tenant["id"]) is None
    # The owner still sees why (the registration outlives the failure).
    [pending] = newcomer.client().get("/api/v1/me").json()["pending_tenants"]
    assert pending["status"] == "failed" and pending["failure_reason"] == record["failure_reason"]


def test_a_self_service_tenant_that_failed_gives_its_creation_slot_back_once(newcomer, platform_admin, settings,
                                                                             own_broker):
    """This test plays the provisioning worker itself (the last attempt, then a redelivery), so the
    approval's job goes to a broker of its own that no worker reads: a worker running the job would
    change the tenant record between the test's read and its write."""
    settings.TENANTS_PER_USER = 1
    client = newcomer.client()
    requested = client.post("/api/v1/tenants", {"name": "Unlucky", "tier": "platinum"}, format="json")
    assert requested.status_code == 202, requested.content
    refused = client.post("/api/v1/tenants", {"name": "Second", "tier": "basic"}, format="json")
    assert refused.status_code == 403 and refused.json()["limit"] == "tenants_per_user"
    tenant_id = requested.json()["id"]
    assert platform_admin.client().post(f"/api/v1/admin/tenants/{tenant_id}/approve").status_code == 200
    settings.TENANT_PROVISIONING_RETRY_SECONDS = 0
    _set_attempt(directory_record(tenant_id), attempts=settings.TENANT_PROVISIONING_MAX_ATTEMPTS)

    assert provision_silo(tenant_id) == "failed"
    assert provision_silo(tenant_id) == "skipped"  # a redelivery gives nothing back a second time

    assert client.post("/api/v1/tenants", {"name": "Second", "tier": "basic"}, format="json").status_code == 201
    third = client.post("/api/v1/tenants", {"name": "Third", "tier": "basic"}, format="json")
    assert third.status_code == 403 and third.json()["limit"] == "tenants_per_user"
