"""The tenant-scoped DynamoDB store against DynamoDB Local: fail-closed, isolated, conditional."""
from __future__ import annotations

import pytest
from boto3.dynamodb.conditions import Attr
from django.conf import settings

from saas import aws
from saas.tenancy import NoTenantContext, system_context, tables, tenant_context
from saas.tenancy.context import InvalidTenantId
from saas.tenancy.store import (
    AlreadyExists,
    DoesNotExist,
    Index,
    InvalidCursor,
    TenantMismatch,
    TenantModel,
    TransactionCancelled,
    UnitOfWork,
    VersionConflict,
    router,
    serialize,
    transact_write,
)
from tests.factories import unique


class Widget(TenantModel):
    entity = "TESTWIDGET"
    indexes = {"by_colour": Index(gsi="GSI1", key=lambda item: (f"COLOUR#{item['colour']}", item["id"]))}


@pytest.fixture
def tenants():
    return unique("ta-"), unique("tb-")


def test_no_context_read_and_write_both_raise():
    with pytest.raises(NoTenantContext):
        Widget.objects.get("anything")
    with pytest.raises(NoTenantContext):
        Widget.objects.create(name="x", colour="red")
    with pytest.raises(NoTenantContext):
        Widget.objects.query()
    with pytest.raises(NoTenantContext):
        transact_write([{"Put": {"TableName": "x", "Item": {}}}])


def test_system_context_is_not_a_tenant_context():
    with system_context(reason="test"):
        with pytest.raises(NoTenantContext):
            Widget.objects.query()


def test_system_context_needs_a_reason():
    with pytest.raises(ValueError):
        with system_context(reason=" "):
            pass


@pytest.mark.parametrize("bad", ["", "A#B", "t#1", "ab", "x" * 80, "UPPER", "a/b"])
def test_tenant_ids_with_delimiters_or_bad_shape_are_refused(bad):
    with pytest.raises(InvalidTenantId):
        with tenant_context(bad):
            pass


def test_tenant_a_cannot_get_update_or_delete_tenant_b_item(tenants):
    a, b = tenants
    with tenant_context(b):
        item = Widget.objects.create(name="b's", colour="red")
    with tenant_context(a):
        with pytest.raises(DoesNotExist):
            Widget.objects.get(item["id"])
        with pytest.raises(DoesNotExist):
            Widget.objects.update(item["id"], expected_version=1, name="stolen")
        with pytest.raises(DoesNotExist):
            Widget.objects.delete(item["id"], expected_version=1)
        assert Widget.objects.query().items == []
        assert Widget.objects.batch_get([item["id"]]) == {}
    with tenant_context(b):
        assert Widget.objects.get(item["id"])["name"] == "b's"


def test_item_whose_stored_tenant_differs_from_context_is_refused(tenants):
    a, b = tenants
    # Plant an item in A's partition that claims to belong to B (e.g. a buggy migration).
    aws.client("dynamodb").put_item(
        TableName=router.pooled_table,
        Item=serialize({"PK": f"TENANT#{a}#TESTWIDGET", "SK": "planted", "tenant_id": b, "id": "planted",
                        "version": 1}),
    )
    with tenant_context(a):
        with pytest.raises(TenantMismatch):
            Widget.objects.get("planted")
        with pytest.raises(TenantMismatch):
            Widget.objects.query()
        with pytest.raises(DoesNotExist):
            Widget.objects.update("planted", expected_version=1, name="x")


def test_duplicate_create_conflicts(tenants):
    a, _ = tenants
    with tenant_context(a):
        Widget.objects.create(id="w1", name="one", colour="red")
        with pytest.raises(AlreadyExists):
            Widget.objects.create(id="w1", name="two", colour="blue")
        assert Widget.objects.get("w1")["name"] == "one"


def test_stale_version_conflicts_and_versions_advance(tenants):
    a, _ = tenants
    with tenant_context(a):
        item = Widget.objects.create(name="v1", colour="red")
        updated = Widget.objects.update(item["id"], expected_version=1, name="v2")
        assert updated["version"] == 2 and updated["name"] == "v2"
        with pytest.raises(VersionConflict):
            Widget.objects.update(item["id"], expected_version=1, name="lost update")
        with pytest.raises(VersionConflict):
            Widget.objects.delete(item["id"], expected_version=1)
        assert Widget.objects.get(item["id"])["name"] == "v2"
        Widget.objects.delete(item["id"], expected_version=2)
        with pytest.raises(DoesNotExist):
            Widget.objects.get(item["id"])


def test_tenant_and_id_can_never_change(tenants):
    a, b = tenants
    with tenant_context(a):
        item = Widget.objects.create(name="x", colour="red")
        for field in ("tenant_id", "id", "version", "PK"):
            with pytest.raises(ValueError):
                Widget.objects.update(item["id"], expected_version=1, **{field: b})
        assert Widget.objects.get(item["id"])["tenant_id"] == a


def test_250_items_page_through_completely_without_duplicates_or_gaps(tenants):
    a, b = tenants
    with tenant_context(a):
        ids = set()
        ops = []
        for n in range(250):
            op, item = Widget.objects.create_op(name=f"w{n}", colour="red" if n % 2 else "blue")
            ops.append(op)
            ids.add(item["id"])
        for start in range(0, 250, 25):
            transact_write(ops[start:start + 25])
    with tenant_context(b):
        Widget.objects.create(name="noise", colour="red")
    with tenant_context(a):
        seen, cursor, pages = [], None, 0
        while True:
            page = Widget.objects.query(cursor=cursor, limit=40)
            seen.extend(i["id"] for i in page.items)
            pages += 1
            cursor = page.next_cursor
            if not cursor:
                break
        assert len(seen) == 250 and set(seen) == ids
        assert pages == 7
        reds = []
        cursor = None
        while True:
            page = Widget.objects.query(index="by_colour", value="COLOUR#red", cursor=cursor, limit=50)
            reds.extend(page.items)
            cursor = page.next_cursor
            if not cursor:
                break
        assert len(reds) == 125 and all(i["colour"] == "red" for i in reds)


def test_tampered_and_foreign_cursors_are_rejected(tenants):
    a, b = tenants
    for tenant in (a, b):
        with tenant_context(tenant):
            for n in range(3):
                Widget.objects.create(name=f"w{n}", colour="red")
    with tenant_context(a):
        cursor = Widget.objects.query(limit=1).next_cursor
        assert cursor
        tampered = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
        with pytest.raises(InvalidCursor):
            Widget.objects.query(cursor=tampered, limit=1)
        with pytest.raises(InvalidCursor):
            Widget.objects.query(cursor="not-a-cursor", limit=1)
        # a cursor for one query cannot be replayed against another (index) query
        with pytest.raises(InvalidCursor):
            Widget.objects.query(index="by_colour", value="COLOUR#red", cursor=cursor, limit=1)
    with tenant_context(b):
        with pytest.raises(InvalidCursor):
            Widget.objects.query(cursor=cursor, limit=1)


def test_failing_transaction_writes_nothing(tenants):
    a, _ = tenants
    with tenant_context(a):
        existing = Widget.objects.create(name="exists", colour="red")
        fresh_op, fresh = Widget.objects.create_op(name="fresh", colour="blue")
        update_op, _ = Widget.objects.update_op(existing["id"], expected_version=1, name="changed")
        stale_check = Widget.objects.condition_op(existing["id"], Attr("version").eq(99))
        with pytest.raises(TransactionCancelled) as info:
            transact_write([fresh_op, update_op, stale_check])
        assert set(info.value.reasons) == {"#2"} and info.value.failed("#2")  # unlabelled: by position
        with pytest.raises(DoesNotExist):
            Widget.objects.get(fresh["id"])
        assert Widget.objects.get(existing["id"])["name"] == "exists"


def test_silo_tenant_items_land_in_its_own_table(tenants):
    a, silo = tenants
    silo_table = f"{settings.DYNAMODB_SILO_TABLE_PREFIX}{silo}"  # a name the stage's IAM policy allows
    tables.ensure_table(silo_table)
    try:
        with system_context(reason="test: route silo tenant"):
            transact_write([router.route_op(silo, silo_table)])
        router.forget()
        with tenant_context(silo):
            item = Widget.objects.create(name="in silo", colour="red")
            assert Widget.objects.get(item["id"])["name"] == "in silo"
        raw = aws.client("dynamodb").get_item(TableName=silo_table,
                                               Key=serialize({"PK": f"TENANT#{silo}#TESTWIDGET", "SK": item["id"]}))
        assert "Item" in raw
        pooled = aws.client("dynamodb").get_item(TableName=router.pooled_table,
                                                  Key=serialize({"PK": f"TENANT#{silo}#TESTWIDGET", "SK": item["id"]}))
        assert "Item" not in pooled
        with tenant_context(a):
            assert router.table_for(a) == router.pooled_table
    finally:
        tables.delete_table(silo_table)


def test_scan_guard_fails_any_scan():
    from tests.aws_operations import ScanAttempted

    with pytest.raises(ScanAttempted):
        aws.client("dynamodb").scan(TableName=router.pooled_table, Limit=1)


def test_cache_throttle_and_storage_keys_carry_the_tenant_and_fail_closed(tenants):
    from saas.tenancy.keys import storage_key, tenant_key

    a, b = tenants
    with pytest.raises(NoTenantContext):
        tenant_key("throttle")
    with pytest.raises(NoTenantContext):
        storage_key("images", "x.png")
    with tenant_context(a):
        assert tenant_key("throttle", "a:b") == f"tenant:{a}:throttle:a_b"
        assert storage_key("images", "../../x.png") == f"tenants/{a}/images/_/_/x.png"
    with tenant_context(b):
        assert tenant_key("throttle", "a:b") != f"tenant:{a}:throttle:a_b"


# --- units of work: cancellations named by label ---------------------------------------------------
def test_a_cancelled_unit_of_work_names_the_second_of_two_short_skus_by_label(tenants):
    """Insufficient stock on the second line: the cancellation names that line's label (and only
    it), whatever the order the operations were added in, and nothing is written."""
    a, _ = tenants
    with tenant_context(a):
        plenty = Widget.objects.create(name="plenty", colour="red", stock=5)
        scarce = Widget.objects.create(name="scarce", colour="red", stock=1)
        tx = UnitOfWork()
        for sku, item, quantity in (("SKU-1", plenty, 2), ("SKU-2", scarce, 3)):
            tx.update(f"stock:{sku}", Widget.objects.increment_op(item["id"], deltas={"stock": -quantity},
                                                                  condition=Attr("stock").gte(quantity)))
        order_op, order = Widget.objects.create_op(name="order", colour="blue")
        tx.put("order", order_op)
        with pytest.raises(TransactionCancelled) as info:
            tx.commit()
        reason = info.value.reasons["stock:SKU-2"]
        assert (reason.code, reason.condition_failed) == ("ConditionalCheckFailed", True)
        assert set(info.value.reasons) == {"stock:SKU-2"} and not info.value.failed("stock:SKU-1")
        assert info.value.failed_labels("stock:") == ["stock:SKU-2"]
        assert Widget.objects.get(plenty["id"])["stock"] == 5 and Widget.objects.get(scarce["id"])["stock"] == 1
        with pytest.raises(DoesNotExist):
            Widget.objects.get(order["id"])


def test_a_stale_version_is_reported_on_the_record_it_guards(tenants):
    a, _ = tenants
    with tenant_context(a):
        kept = Widget.objects.create(name="kept", colour="red")
        changed = Widget.objects.create(name="changed", colour="red")
        Widget.objects.update(changed["id"], expected_version=1, name="by someone else")
        tx = UnitOfWork()
        tx.put("fresh", Widget.objects.create_op(name="fresh", colour="blue")[0])
        tx.update(f"widget:{kept['id']}", Widget.objects.update_op(kept["id"], expected_version=1, name="mine")[0])
        tx.update(f"widget:{changed['id']}",
                  Widget.objects.update_op(changed["id"], expected_version=1, name="mine")[0])
        with pytest.raises(TransactionCancelled) as info:
            tx.commit()
        assert info.value.failed_labels() == [f"widget:{changed['id']}"]
        assert Widget.objects.get(kept["id"])["name"] == "kept"


def test_a_unit_of_work_refuses_a_label_twice_and_an_operation_of_the_wrong_kind(tenants):
    a, _ = tenants
    with tenant_context(a):
        op, _ = Widget.objects.create_op(name="x", colour="red")
        tx = UnitOfWork()
        tx.put("widget", op)
        with pytest.raises(ValueError):
            tx.put("widget", op)
        with pytest.raises(ValueError):
            tx.update("other", op)  # a Put is not an update
        assert tx.labels == ["widget"]


class _Contributor:
    """Joins with one operation per attempt: first one whose condition fails (a chain head another
    writer moved), then a good one; records what the unit of work told it."""

    def __init__(self, bad_first: bool = True):
        self.attempts, self.retries, self.outcome, self.bad_first = 0, [], None, bad_first

    def operations(self):
        self.attempts += 1
        check = Attr("colour").eq("nope") if self.bad_first and self.attempts == 1 else Attr("colour").eq("red")
        return [("contributor:check", Widget.objects.condition_op(self.anchor, check))]

    def retry(self, failed, attempt):
        self.retries.append((sorted(failed), attempt))
        return True

    def finished(self, committed):
        self.outcome = committed


def test_a_contributor_whose_own_operation_failed_gets_another_attempt_with_the_callers_operations_unchanged(tenants):
    a, _ = tenants
    with tenant_context(a):
        contributor = _Contributor()
        contributor.anchor = Widget.objects.create(name="anchor", colour="red")["id"]
        tx = UnitOfWork()
        op, made = Widget.objects.create_op(name="mine", colour="blue")
        tx.put("mine", op)
        tx.join(contributor)
        tx.commit()
        assert contributor.retries == [(["contributor:check"], 0)] and contributor.outcome is True
        assert Widget.objects.get(made["id"])["name"] == "mine"


def test_when_the_callers_operation_fails_the_contributor_is_not_retried_and_not_named(tenants):
    a, _ = tenants
    with tenant_context(a):
        contributor = _Contributor(bad_first=False)
        contributor.anchor = Widget.objects.create(name="anchor", colour="red")["id"]
        tx = UnitOfWork()
        tx.put("duplicate", Widget.objects.create_op(id=contributor.anchor, name="again", colour="red")[0])
        tx.join(contributor)
        with pytest.raises(TransactionCancelled) as info:
            tx.commit()
        assert set(info.value.reasons) == {"duplicate"}
        assert contributor.retries == [] and contributor.outcome is False
