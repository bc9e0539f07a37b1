"""Self-service registration: POST /tenants. Pooled tiers share the pooled table; platinum gets a
silo table recorded in the routing map, shows provisioning -> active, or failed with a reason and
nothing half-made."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from saas import aws
from saas.tenancy import system_context, tenant_context
from saas.tenancy.context import TENANT_ID_PATTERN
from saas.tenancy.store import router, serialize
from saas.tenancy import tables
from tenants import services
from tenants.models import Member


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


def test_two_registrations_get_different_unguessable_ids(newcomer):
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


def test_platinum_gets_its_own_table_recorded_in_the_routing_map(newcomer, silo_cleanup):
    client = newcomer.client()
    response = client.post("/api/v1/tenants", {"name": "Big Co", "tier": "platinum"}, format="json")
    assert response.status_code == 201, response.content
    tenant = response.json()
    silo = services.silo_table_name(tenant["id"])
    silo_cleanup.append(silo)
    assert tenant["status"] == "active" and tenant["deployment"] == "silo" and tenant["tier"] == "platinum"
    assert table_exists(silo) and routed_table(tenant["id"]) == silo
    # the owner's membership lives in the silo table, not in the pooled one
    key = serialize({"PK": f"TENANT#{tenant['id']}#MEMBER", "SK": newcomer.sub})
    assert "Item" in aws.client("dynamodb").get_item(TableName=silo, Key=key, ConsistentRead=True)
    assert "Item" not in aws.client("dynamodb").get_item(TableName=router.pooled_table, Key=key, ConsistentRead=True)
    # and the API works against it at once, in this process
    assert client.get("/api/v1/me").json()["active_tenant"]["id"] == tenant["id"]
    members = client.get("/api/v1/tenants/current/members")
    assert members.status_code == 200 and [m["user_id"] for m in members.json()["results"]] == [newcomer.sub]


def test_platinum_shows_provisioning_then_active(newcomer, platform_admin, silo_cleanup):
    admin = platform_admin.client()
    tenant = services.start_silo_tenant(name="Stepwise", owner_id=newcomer.sub, owner_email=newcomer.email)
    silo_cleanup.append(tenant["table"])

    def listed():
        response = admin.get(f"/api/v1/admin/tenants/{tenant['id']}")
        assert response.status_code == 200
        return response.json()

    assert listed()["status"] == "provisioning"
    # while provisioning, the owner is not yet a member of anything usable
    assert newcomer.client().get("/api/v1/tenants/current").status_code == 403
    services.provision_silo_tenant(tenant_id=tenant["id"])
    assert listed()["status"] == "active"
    assert newcomer.client().get("/api/v1/tenants/current").json()["id"] == tenant["id"]


def test_failed_platinum_provisioning_leaves_nothing_half_made(newcomer, platform_admin, settings):
    # A real failure from the real server: DynamoDB refuses the table name.
    settings.DYNAMODB_SILO_TABLE_PREFIX = "bad name!"
    client = newcomer.client()
    response = client.post("/api/v1/tenants", {"name": "Doomed", "tier": "platinum"}, format="json")
    assert response.status_code == 503
    assert response.json()["code"] == "provisioning_failed"
    body = response.json()
    assert body["tenant_id"] and "ValidationException" in body["reason"]
    tenant = platform_admin.client().get(f"/api/v1/admin/tenants/{body['tenant_id']}").json()
    assert tenant["created_by"] == newcomer.sub
    assert tenant["status"] == "failed" and "ValidationException" in tenant["failure_reason"]
    # nothing half-made: no table, no route, no membership
    assert not any(tenant["id"] in name for name in all_tables())
    assert routed_table(tenant["id"]) is None
    me = client.get("/api/v1/me").json()
    assert me["memberships"] == [] and me["active_tenant"] is None
    with tenant_context(tenant["id"]):
        assert Member.objects.query().items == []
    with pytest.raises(services.InvalidTransition):
        services.provision_silo_tenant(tenant_id=tenant["id"])


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
    with pytest.raises(services.ProvisioningFailed) as info:
        services.provision_silo_tenant(tenant_id=tenant["id"])
    assert "ConditionalCheckFailed" in info.value.reason
    with system_context(reason="test: read back"):
        from tenants.models import TENANT_DIRECTORY, Tenant, UserMembership

        record = Tenant.objects.get(TENANT_DIRECTORY, tenant["id"], consistent=True)
        assert UserMembership.objects.query(newcomer.sub).items == []
    assert record["status"] == "failed" and "ConditionalCheckFailed" in record["failure_reason"]
    assert "table" not in record
    assert not table_exists(tenant["table"])
    assert routed_table(tenant["id"]) is None
