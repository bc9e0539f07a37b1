"""The tenant boundary's first rule, checked without a server: no tenant context, no tenant data.
Tenant-scoped reads and writes refuse to start (403 ``no_active_tenant``) before any request reaches
DynamoDB, also under platform work (``system_context``); a tenant id that could smuggle a key
delimiter never becomes a context; a context ends with its block, even when the block fails."""
from __future__ import annotations

import pytest

from products.models import Product
from saas.tenancy import NoTenantContext, get_context, system_context, tenant_context
from saas.tenancy.context import InvalidTenantId, TenantContext, current_context, refresh_current

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"


@pytest.fixture(autouse=True)
def _no_dynamodb(monkeypatch):
    """Any DynamoDB call fails the test: the refusals below must come before I/O."""
    from saas.tenancy import store

    def refuse(operation, **kwargs):
        raise AssertionError(f"DynamoDB {operation} called")

    monkeypatch.setattr(store.items, "call", refuse)  # every DynamoDB round trip goes through it


@pytest.mark.parametrize("attempt", [
    lambda: Product.objects.get("p1"),
    lambda: Product.objects.query(),
    lambda: Product.objects.batch_get(["p1"]),
    lambda: Product.objects.create_op(sku="SKU-1", name="Mug"),
    lambda: Product.objects.delete_op("p1", expected_version=1),
], ids=["get", "query", "batch_get", "create", "delete"])
def test_tenant_data_is_refused_without_a_tenant_context(attempt):
    with pytest.raises(NoTenantContext):
        attempt()
    with system_context(reason="test: platform work is not a tenant"), pytest.raises(NoTenantContext):
        attempt()


def test_the_refusal_is_a_403_no_active_tenant():
    with pytest.raises(NoTenantContext) as refused:
        get_context()
    assert refused.value.status == 403
    assert refused.value.as_dict() == {"code": "no_active_tenant", "message": "No active tenant."}


@pytest.mark.parametrize("tenant_id", ["acme#ORDER", "acme-shop#", "ACME", "ab", "-acme", "acme shop", "acme_shop",
                                       "acmé", "a" * 64, "", None])
def test_a_tenant_id_that_could_break_out_of_its_keys_is_refused(tenant_id):
    with pytest.raises(InvalidTenantId), tenant_context(tenant_id):
        pass
    assert current_context() is None


def test_a_context_ends_with_its_block_even_when_the_block_fails():
    with tenant_context("acme-shop"):
        with pytest.raises(RuntimeError), tenant_context("rival-shop"):
            raise RuntimeError("boom")
        assert get_context().tenant_id == "acme-shop"  # the outer tenant, not the inner one
    assert current_context() is None


def test_only_the_current_tenants_context_can_be_refreshed():
    with tenant_context("acme-shop", roles={"admin"}):
        refresh_current(TenantContext(tenant_id="acme-shop", roles=frozenset({"viewer"})))  # demoted: re-read
        assert get_context().roles == {"viewer"}
        with pytest.raises(NoTenantContext):
            refresh_current(TenantContext(tenant_id="rival-shop", roles=frozenset({"admin"})))
        assert get_context().tenant_id == "acme-shop"


def test_platform_work_names_its_reason():
    with pytest.raises(ValueError), system_context(reason="  "):
        pass


def test_roles_are_ranked():
    manager = TenantContext(tenant_id="acme-shop", roles=frozenset({"manager"}))
    assert manager.at_least("member") and manager.at_least("manager") and not manager.at_least("admin")
    assert not TenantContext(tenant_id="acme-shop").at_least("viewer")  # no role: nothing
