"""Idempotency-Key on the creates whose retry would repeat a side effect (saas.idempotency): POST
/tenants, /products, /tenants/current/members (an invitation), /exports and /webhooks/endpoints. A retry creates nothing
and answers the first response again; another body with the key is refused; keys of other tenants
and users are independent; concurrent duplicates create one object."""
from __future__ import annotations

import hashlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

import pytest
import requests

from saas import idempotency
from saas.tenancy import system_context, tenant_context
from tests.factories import unique


@dataclass(frozen=True)
class Create:
    path: str
    status: int
    body: Callable[[str], dict | None]  # a request body; another tag gives another body
    count: Callable[[object], int]  # how many such objects the caller sees, through the API
    tenant_scoped: bool = True


def _product(tag: str) -> dict:
    return {"sku": f"IDEM-{tag.upper()}", "name": "Enamel mug", "price": "9.50", "currency": "EUR", "stock": 3}


def _listed(path: str, key: str = "results") -> Callable[[object], int]:
    return lambda user: len(user.client().get(path, {"limit": 100}).json()[key])


CREATES = {
    "products": Create("/api/v1/products", 201, _product, _listed("/api/v1/products")),
    "invitations": Create("/api/v1/tenants/current/members", 202,
                          lambda tag: {"email": f"invitee-{tag}@example.test", "role": "member"},
                          _listed("/api/v1/tenants/current/invitations")),
    "exports": Create("/api/v1/exports", 202, lambda tag: None, _listed("/api/v1/exports")),
    # A replay shows the endpoint's secret again (through the audited reveal): the client that lost
    # the first answer never saw it.
    "endpoints": Create("/api/v1/webhooks/endpoints", 201,
                        lambda tag: {"url": f"https://127.0.0.1/hooks/{tag}", "event_types": ["order.created"]},
                        _listed("/api/v1/webhooks/endpoints")),
    "tenants": Create("/api/v1/tenants", 201, lambda tag: {"name": f"Idem Co {tag}", "tier": "basic"},
                      lambda user: len(user.client().get("/api/v1/me").json()["memberships"]), tenant_scoped=False),
}
WITH_BODY = [name for name, create in CREATES.items() if create.body("x") is not None]


@pytest.fixture
def caller(request, tenant_a, make_user):
    """Who sends the request: the tenant's admin, or for POST /tenants someone with no tenant yet."""
    return tenant_a.admin if CREATES[request.param].tenant_scoped else make_user()


def _post(user, create: Create, key: str | None, tag: str = "a"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return user.client().post(create.path, create.body(tag), format="json", **headers)


@pytest.mark.parametrize("caller", list(CREATES), indirect=True)
def test_a_retry_with_the_same_key_creates_once_and_answers_the_first_response_again(caller, request):
    create = CREATES[request.node.callspec.params["caller"]]
    before = create.count(caller)

    first = _post(caller, create, "retry-1")
    again = _post(caller, create, "retry-1")
    third = _post(caller, create, "retry-1")

    assert first.status_code == create.status, first.content
    assert again.status_code == third.status_code == create.status
    assert again.json() == third.json() == first.json()
    assert "Idempotent-Replayed" not in first
    assert again["Idempotent-Replayed"] == third["Idempotent-Replayed"] == "true"
    for header in ("Location", "ETag"):
        assert again.get(header) == first.get(header)
    assert create.count(caller) == before + 1


@pytest.mark.parametrize("caller", WITH_BODY, indirect=True)
def test_the_same_key_with_another_body_is_refused_and_creates_nothing(caller, request):
    create = CREATES[request.node.callspec.params["caller"]]
    assert _post(caller, create, "reused-1", tag="a").status_code == create.status
    before = create.count(caller)

    reused = _post(caller, create, "reused-1", tag="b")

    assert reused.status_code == 409, reused.content
    assert reused.json()["code"] == "idempotency_key_reused"
    assert create.count(caller) == before


def test_a_key_used_on_one_create_is_refused_on_another(tenant_a):
    admin = tenant_a.admin
    assert _post(admin, CREATES["products"], "one-use").status_code == 201

    other = _post(admin, CREATES["exports"], "one-use")

    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert CREATES["exports"].count(admin) == 0


@pytest.mark.parametrize("name", ["products", "invitations", "exports", "endpoints"])
def test_another_tenant_or_user_with_the_same_key_value_is_independent(name, tenant_a, tenant_b, make_user):
    create = CREATES[name]
    second_admin = tenant_a.add(make_user, "admin")

    mine = _post(tenant_a.admin, create, "shared-key")
    neighbours = _post(tenant_b.admin, create, "shared-key")
    colleagues = _post(second_admin, create, "shared-key", tag="c")  # another body: not a reuse, his own key

    for response in (mine, neighbours, colleagues):
        assert response.status_code == create.status, response.content
        assert "Idempotent-Replayed" not in response
    assert len({mine.json()["id"], neighbours.json()["id"], colleagues.json()["id"]}) == 3
    assert create.count(tenant_b.admin) == 1


def test_two_users_with_the_same_key_value_get_a_tenant_each(make_user):
    one, two = make_user(), make_user()
    first = _post(one, CREATES["tenants"], "my-first-shop")
    second = _post(two, CREATES["tenants"], "my-first-shop", tag="b")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"] and "Idempotent-Replayed" not in second


@pytest.mark.parametrize("caller", list(CREATES), indirect=True)
def test_concurrent_requests_with_one_key_create_one_object(caller, request, live_server):
    """Threads against the live server, released together by a barrier: every request answers the
    same object, exactly one of them created it."""
    create = CREATES[request.node.callspec.params["caller"]]
    before = create.count(caller)
    threads = 6
    start = threading.Barrier(threads)

    def send(_):
        start.wait()
        return requests.post(live_server.url + create.path, json=create.body("a"), timeout=60,
                             headers={"Authorization": f"Bearer {caller.id_token}", "Idempotency-Key": "double-click"})

    with ThreadPoolExecutor(threads) as pool:
        responses = list(pool.map(send, range(threads)))

    assert {r.status_code for r in responses} == {create.status}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "-") for r in responses) == ["-"] + ["true"] * (threads - 1)
    assert create.count(caller) == before + 1


def test_a_retried_post_tenants_takes_no_second_creation_slot(make_user, settings):
    settings.TENANTS_PER_USER = 2
    user = make_user()
    created = _post(user, CREATES["tenants"], "signup-1")
    retries = [_post(user, CREATES["tenants"], "signup-1") for _ in range(3)]
    assert created.status_code == 201 and {r.status_code for r in retries} == {201}

    assert _post(user, CREATES["tenants"], "signup-2", tag="b").status_code == 201  # the second slot is free
    refused = _post(user, CREATES["tenants"], "signup-3", tag="c")
    assert refused.status_code == 403 and refused.json()["limit"] == "tenants_per_user"
    assert _post(user, CREATES["tenants"], "signup-1").json() == created.json()  # still a replay at the cap
    assert CREATES["tenants"].count(user) == 2


def test_the_record_lives_24_hours_and_an_expired_one_creates_again(tenant_a, make_user):
    """DynamoDB deletes expired items lazily (up to days later): an expired record must not replay."""
    admin, create = tenant_a.admin, CREATES["products"]
    first = _post(admin, create, "old-key")
    record_id = hashlib.sha256(f"{admin.sub}\x00old-key".encode()).hexdigest()
    with tenant_context(tenant_a.id):
        record = idempotency.IdempotentRequest.objects.get(record_id, consistent=True)
        assert abs(record["expires_at"] - (time.time() + 24 * 3600)) < 60
        idempotency.IdempotentRequest.objects.update(record_id, expected_version=record["version"],
                                                     expires_at=int(time.time()) - 1)

    fresh = _post(admin, create, "old-key", tag="b")

    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert "Idempotent-Replayed" not in fresh
    assert _post(admin, create, "old-key", tag="b").json() == fresh.json()


def test_a_replayed_endpoint_shows_its_secret_again_but_the_key_record_never_holds_it(tenant_a):
    """The secret is stored once (its own item): the key's record keeps the answer without it, and a
    replay reveals it through the audited path, as an admin's reveal does."""
    admin, create = tenant_a.admin, CREATES["endpoints"]
    first = _post(admin, create, "endpoint-key")
    replay = _post(admin, create, "endpoint-key")
    secret = first.json()["secret"]
    assert secret.startswith("whsec_") and replay.json()["secret"] == secret

    record_id = hashlib.sha256(f"{admin.sub}\x00endpoint-key".encode()).hexdigest()
    with tenant_context(tenant_a.id):
        record = idempotency.IdempotentRequest.objects.get(record_id, consistent=True)
    assert secret not in repr(record) and secret.removeprefix("whsec_") not in repr(record)
    trail = admin.client().get("/api/v1/audit", {"action": "webhook.secret_revealed"}).json()["results"]
    assert [entry["target_id"] for entry in trail] == [first.json()["id"]]


def test_an_expired_user_scoped_record_creates_again(make_user):
    user, create = make_user(), CREATES["tenants"]
    first = _post(user, create, "old-signup")
    record_id = hashlib.sha256(b"old-signup").hexdigest()
    with system_context(reason="test: expire a user's idempotency record"):
        record = idempotency.UserIdempotentRequest.objects.get(user.sub, record_id, consistent=True)
        stored = {k: record[k] for k in ("fingerprint", "status", "body", "headers")}
        idempotency.UserIdempotentRequest.objects.put(user.sub, record_id, expected_version=record["version"],
                                                      expires_at=int(time.time()) - 1, **stored)

    fresh = _post(user, create, "old-signup", tag="b")

    assert fresh.status_code == 201 and fresh.json()["id"] != first.json()["id"]
    assert create.count(user) == 2


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve"])
@pytest.mark.parametrize("caller", list(CREATES), indirect=True)
def test_a_malformed_key_is_a_400_naming_the_header_and_nothing_is_created(caller, request, key):
    create = CREATES[request.node.callspec.params["caller"]]
    before = create.count(caller)
    response = caller.client().post(create.path, create.body(unique()), format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert response.status_code == 400 and "Idempotency-Key" in response.json()["fields"]
    assert create.count(caller) == before
