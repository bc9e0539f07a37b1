"""The webhooks API against the real local servers: Cognito tokens, DynamoDB Local, moto SNS
delivering to a receiver on 127.0.0.1."""
from __future__ import annotations

import json

import pytest

from saas.events import EVENT_TYPES, ORDER_CREATED, ORDER_FULFILLED, PRODUCT_CREATED, WEBHOOK_TEST
from saas.tenancy import tenant_context
from saas.tenancy.store import DoesNotExist
from webhooks.models import PENDING_CONFIRMATION, WebhookSubscription, WebhookTopic
from webhooks.services import publish_event

from .factories import make_event, tenant_topic_names, topic_name

SUBSCRIPTIONS = "/api/v1/webhooks/subscriptions"


def subscribe(client, event_type: str, url: str):
    return client.post(SUBSCRIPTIONS, {"event_type": event_type, "url": url}, format="json")


# --- event catalogue ---------------------------------------------------------------------------
def test_any_member_reads_the_event_catalogue(tenant_a, make_user):
    viewer = tenant_a.add(make_user, "viewer")
    response = viewer.client().get("/api/v1/webhooks/event-types")
    assert response.status_code == 200
    assert [t["type"] for t in response.json()["results"]] == list(EVENT_TYPES)
    assert all(t["description"] for t in response.json()["results"])


def test_event_catalogue_needs_a_token():
    from rest_framework.test import APIClient

    assert APIClient().get("/api/v1/webhooks/event-types").status_code == 401


# --- subscribe ----------------------------------------------------------------------------------
def test_admin_subscribes_and_the_topic_is_recorded(tenant_a, receiver, sns_client):
    assert tenant_topic_names(tenant_a.id) == set()
    response = subscribe(tenant_a.admin.client(), ORDER_CREATED, receiver.url("/hook"))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["event_type"] == ORDER_CREATED and body["url"] == receiver.url("/hook")
    assert body["status"] == "active"  # moto confirms http subscriptions at once
    assert set(body) >= {"id", "status", "topic_arn", "subscription_arn", "created_at"}

    # One topic, named for the tenant and type, its ARN recorded in DynamoDB.
    assert tenant_topic_names(tenant_a.id) == {topic_name(tenant_a.id, ORDER_CREATED)}
    with tenant_context(tenant_a.id):
        record = WebhookTopic.objects.get(ORDER_CREATED)
        stored = WebhookSubscription.objects.get(body["id"])
    assert record["topic_arn"] == body["topic_arn"]
    assert record["topic_arn"].endswith(":" + topic_name(tenant_a.id, ORDER_CREATED))
    assert stored["subscription_arn"] == body["subscription_arn"]

    # The SNS subscription filters on the tenant as defence in depth.
    attributes = sns_client.get_subscription_attributes(SubscriptionArn=body["subscription_arn"])["Attributes"]
    assert attributes["Endpoint"] == receiver.url("/hook")
    assert json.loads(attributes["FilterPolicy"])["tenant_id"] == [tenant_a.id]

    listed = tenant_a.admin.client().get(SUBSCRIPTIONS).json()
    assert [s["id"] for s in listed["results"]] == [body["id"]] and listed["next_cursor"] is None
    assert tenant_a.admin.client().get(f"{SUBSCRIPTIONS}/{body['id']}").json()["status"] == "active"


@pytest.mark.parametrize("payload, field", [
    ({"event_type": "order.exploded", "url": "http://127.0.0.1:9/x"}, "event_type"),
    ({"event_type": "webhook.test", "url": "http://127.0.0.1:9/x"}, "event_type"),
    ({"url": "http://127.0.0.1:9/x"}, "event_type"),
    ({"event_type": ORDER_CREATED}, "url"),
    ({"event_type": ORDER_CREATED, "url": "ftp://127.0.0.1/x"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "not a url"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "https://10.0.0.8/hook"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "https://192.168.1.20/hook"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "https://172.16.0.1/hook"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "http://169.254.169.254/latest/meta-data/"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "https://[::ffff:10.0.0.1]/hook"}, "url"),
    ({"event_type": ORDER_CREATED, "url": "https://user:pw@127.0.0.1/hook"}, "url"),
])
def test_bad_input_is_a_400_naming_the_field(tenant_a, payload, field):
    response = tenant_a.admin.client().post(SUBSCRIPTIONS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["fields"]
    assert tenant_topic_names(tenant_a.id) == set()  # nothing was created for a refused request


def test_only_https_public_urls_when_insecure_local_is_off(tenant_a, receiver, settings):
    settings.WEBHOOKS_ALLOW_INSECURE_LOCAL = False
    client = tenant_a.admin.client()
    for url in (receiver.url("/hook"), "https://127.0.0.1/hook", "http://203.0.113.10/hook"):
        response = subscribe(client, ORDER_CREATED, url)
        assert response.status_code == 400, url
        assert "url" in response.json()["fields"]
    assert tenant_topic_names(tenant_a.id) == set()


@pytest.mark.parametrize("role", ["manager", "member", "viewer"])
def test_non_admins_cannot_manage_subscriptions(tenant_a, make_user, receiver, role):
    created = subscribe(tenant_a.admin.client(), ORDER_CREATED, receiver.url("/hook")).json()
    client = tenant_a.add(make_user, role).client()
    assert subscribe(client, ORDER_CREATED, receiver.url("/other")).status_code == 403
    assert client.get(SUBSCRIPTIONS).status_code == 403
    assert client.delete(f"{SUBSCRIPTIONS}/{created['id']}").status_code == 403
    assert client.post(f"{SUBSCRIPTIONS}/{created['id']}/test").status_code == 403
    assert receiver.envelopes("/hook") == []
    assert tenant_a.admin.client().get(f"{SUBSCRIPTIONS}/{created['id']}").status_code == 200


def test_no_token_is_401(receiver):
    from rest_framework.test import APIClient

    client = APIClient()
    assert subscribe(client, ORDER_CREATED, receiver.url("/hook")).status_code == 401
    assert client.get(SUBSCRIPTIONS).status_code == 401


def test_another_tenants_subscription_is_a_404(tenant_a, tenant_b, receiver):
    created = subscribe(tenant_a.admin.client(), ORDER_CREATED, receiver.url("/a")).json()
    intruder = tenant_b.admin.client()
    assert intruder.get(f"{SUBSCRIPTIONS}/{created['id']}").status_code == 404
    assert intruder.delete(f"{SUBSCRIPTIONS}/{created['id']}").status_code == 404
    assert intruder.post(f"{SUBSCRIPTIONS}/{created['id']}/test").status_code == 404
    assert intruder.get(SUBSCRIPTIONS).json()["results"] == []
    assert receiver.envelopes("/a") == []
    assert tenant_a.admin.client().get(f"{SUBSCRIPTIONS}/{created['id']}").status_code == 200
    assert tenant_topic_names(tenant_a.id) == {topic_name(tenant_a.id, ORDER_CREATED)}


def test_unknown_subscription_is_a_404(tenant_a):
    assert tenant_a.admin.client().delete(f"{SUBSCRIPTIONS}/nope").status_code == 404
    assert tenant_a.admin.client().post(f"{SUBSCRIPTIONS}/nope/test").status_code == 404


def test_the_same_url_and_type_twice_is_a_409(tenant_a, receiver):
    client = tenant_a.admin.client()
    assert subscribe(client, ORDER_CREATED, receiver.url("/hook")).status_code == 201
    response = subscribe(client, ORDER_CREATED, receiver.url("/hook"))
    assert response.status_code == 409 and response.json()["code"] == "already_subscribed"
    assert subscribe(client, ORDER_FULFILLED, receiver.url("/hook")).status_code == 201


def test_subscriptions_per_tenant_are_limited(tenant_a, tenant_b, receiver, settings):
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "webhook_subscriptions": 2}}
    client = tenant_a.admin.client()
    assert subscribe(client, ORDER_CREATED, receiver.url("/1")).status_code == 201
    assert subscribe(client, ORDER_CREATED, receiver.url("/2")).status_code == 201
    response = subscribe(client, PRODUCT_CREATED, receiver.url("/3"))
    assert response.status_code == 403 and response.json()["code"] == "plan_limit"
    assert response.json()["limit"] == "webhook_subscriptions" and response.json()["max"] == 2
    # The refused subscription left no topic behind, and another tenant has its own allowance.
    assert tenant_topic_names(tenant_a.id) == {topic_name(tenant_a.id, ORDER_CREATED)}
    assert subscribe(tenant_b.admin.client(), PRODUCT_CREATED, receiver.url("/b")).status_code == 201
    # Deleting one frees a slot.
    first = client.get(SUBSCRIPTIONS).json()["results"][0]
    assert client.delete(f"{SUBSCRIPTIONS}/{first['id']}").status_code == 204
    assert subscribe(client, PRODUCT_CREATED, receiver.url("/3")).status_code == 201


def test_list_is_paged_with_limit_and_cursor(tenant_a, receiver):
    client = tenant_a.admin.client()
    ids = {subscribe(client, event_type, receiver.url("/p")).json()["id"]
           for event_type in (ORDER_CREATED, ORDER_FULFILLED, PRODUCT_CREATED)}
    first = client.get(SUBSCRIPTIONS, {"limit": 2}).json()
    assert len(first["results"]) == 2 and first["next_cursor"]
    second = client.get(SUBSCRIPTIONS, {"limit": 2, "cursor": first["next_cursor"]}).json()
    assert {s["id"] for s in first["results"] + second["results"]} == ids
    for bad in ("0", "101", "x"):
        response = client.get(SUBSCRIPTIONS, {"limit": bad})
        assert response.status_code == 400 and "limit" in response.json()["fields"]
    response = client.get(SUBSCRIPTIONS, {"cursor": "forged"})
    assert response.status_code == 400 and "cursor" in response.json()["fields"]


# --- topic lifecycle ------------------------------------------------------------------------------
def test_topic_is_created_by_the_first_subscription_and_deleted_with_the_last(tenant_a, receiver, sns_client):
    client = tenant_a.admin.client()
    first = subscribe(client, ORDER_CREATED, receiver.url("/1")).json()
    second = subscribe(client, ORDER_CREATED, receiver.url("/2")).json()
    assert first["topic_arn"] == second["topic_arn"]
    assert tenant_topic_names(tenant_a.id) == {topic_name(tenant_a.id, ORDER_CREATED)}

    assert client.delete(f"{SUBSCRIPTIONS}/{first['id']}").status_code == 204
    assert client.get(f"{SUBSCRIPTIONS}/{first['id']}").status_code == 404
    assert tenant_topic_names(tenant_a.id) == {topic_name(tenant_a.id, ORDER_CREATED)}
    remaining = sns_client.list_subscriptions_by_topic(TopicArn=second["topic_arn"])["Subscriptions"]
    assert [s["Endpoint"] for s in remaining] == [receiver.url("/2")]

    assert client.delete(f"{SUBSCRIPTIONS}/{second['id']}").status_code == 204
    assert tenant_topic_names(tenant_a.id) == set()
    with tenant_context(tenant_a.id):
        with pytest.raises(DoesNotExist):
            WebhookTopic.objects.get(ORDER_CREATED)
    assert client.delete(f"{SUBSCRIPTIONS}/{second['id']}").status_code == 404

    # Subscribing again brings a fresh topic that delivers.
    again = subscribe(client, ORDER_CREATED, receiver.url("/1"))
    assert again.status_code == 201
    with tenant_context(tenant_a.id):
        event = make_event(tenant_a.id, ORDER_CREATED)
        assert publish_event(event=event) == "published"
    assert [e["id"] for e in receiver.wait_for_count("/1", 1)] == [event["id"]]


# --- test deliveries -------------------------------------------------------------------------------
def test_test_fire_reaches_only_that_subscription(tenant_a, tenant_b, receiver):
    client = tenant_a.admin.client()
    target = subscribe(client, ORDER_CREATED, receiver.url("/target")).json()
    subscribe(client, ORDER_CREATED, receiver.url("/sibling"))  # same topic
    subscribe(client, ORDER_FULFILLED, receiver.url("/other-type"))
    subscribe(tenant_b.admin.client(), ORDER_CREATED, receiver.url("/other-tenant"))

    response = client.post(f"{SUBSCRIPTIONS}/{target['id']}/test")
    assert response.status_code == 202
    sent = response.json()
    assert sent["type"] == WEBHOOK_TEST and sent["tenant_id"] == tenant_a.id

    delivered = receiver.wait_for_count("/target", 1)
    assert delivered == [sent]
    assert sent["data"]["subscription_id"] == target["id"]
    assert {p: len(v) for p, v in receiver.deliveries.items()} == {"/target": 1}


def _mark_pending(tenant_id: str, subscription_id: str) -> dict:
    with tenant_context(tenant_id):
        stored = WebhookSubscription.objects.get(subscription_id)
        return WebhookSubscription.objects.update(subscription_id, expected_version=stored["version"],
                                                  status=PENDING_CONFIRMATION)


def test_reads_never_write_a_pending_subscription_turns_active_by_the_explicit_refresh(tenant_a, receiver):
    """Against real SNS an HTTP/S subscription is pending until the endpoint confirms; moto confirms
    at once. Reads show what is recorded and write nothing; POST .../refresh asks SNS and records it."""
    client = tenant_a.admin.client()
    created = subscribe(client, ORDER_CREATED, receiver.url("/hook")).json()
    pending = _mark_pending(tenant_a.id, created["id"])
    assert client.get(f"{SUBSCRIPTIONS}/{created['id']}").json()["status"] == "pending_confirmation"
    assert client.get(SUBSCRIPTIONS).json()["results"][0]["status"] == "pending_confirmation"
    with tenant_context(tenant_a.id):
        assert WebhookSubscription.objects.get(created["id"], consistent=True)["version"] == pending["version"]
    refreshed = client.post(f"{SUBSCRIPTIONS}/{created['id']}/refresh")
    assert refreshed.status_code == 200 and refreshed.json()["status"] == "active"
    with tenant_context(tenant_a.id):
        assert WebhookSubscription.objects.get(created["id"], consistent=True)["status"] == "active"


def test_the_sweep_records_confirmed_subscriptions(tenant_a, receiver):
    from saas import tasks

    client = tenant_a.admin.client()
    created = subscribe(client, ORDER_CREATED, receiver.url("/hook")).json()
    _mark_pending(tenant_a.id, created["id"])
    with tenant_context(tenant_a.id):
        tasks.sweep_tenant()  # the tenant's periodic sweep job, run in place
        assert WebhookSubscription.objects.get(created["id"], consistent=True)["status"] == "active"
