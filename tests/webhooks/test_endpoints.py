"""Endpoints: created through the API, fed by the tenant's one SNS topic through the delivery queue,
delivered by our worker with Standard Webhooks signatures (verified here with the independent
``standardwebhooks`` library), retried on Svix's schedule (an injectable clock, no sleeping)."""
from __future__ import annotations

import base64
import json

import pytest
from standardwebhooks.webhooks import WebhookVerificationError

from saas import aws
from saas.tenancy import tenant_context
from webhooks import transport
from webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

from .factories import ENDPOINTS, deliver_pending, sweep, tenant_topic_names, verify

PRODUCTS = "/api/v1/products"


def make_product(api, sku: str) -> dict:
    response = api.post(PRODUCTS, {"sku": sku, "name": "n", "price": "1.00", "currency": "USD", "stock": 1},
                        format="json")
    assert response.status_code == 201, response.content
    return response.json()


def create_endpoint(api, url: str, event_types: list[str], **extra) -> dict:
    response = api.post(ENDPOINTS, {"url": url, "event_types": event_types, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_an_endpoint_gets_a_secret_once_and_the_tenant_one_topic_subscribed_by_the_delivery_queue(tenant_a):
    api = tenant_a.admin.client()
    created = create_endpoint(api, "https://127.0.0.1/in", ["product.created", "order.created"],
                              description="ERP")
    assert created["secret"].startswith("whsec_") and len(base64.b64decode(created["secret"][6:])) >= 24
    assert created["event_types"] == ["order.created", "product.created"] and created["enabled"] is True
    create_endpoint(api, "https://127.0.0.1/two", ["*"])
    # Reads never show the secret.
    listed = api.get(ENDPOINTS).json()["results"]
    assert len(listed) == 2 and all("secret" not in e for e in listed)
    assert "secret" not in api.get(f"{ENDPOINTS}/{created['id']}").json()
    # One topic for the tenant, whatever the number of endpoints and types.
    [name] = tenant_topic_names(tenant_a.id)
    assert name.endswith(f"{tenant_a.id}-events")
    sns = aws.client("sns")
    arn = next(t["TopicArn"] for t in sns.list_topics()["Topics"] if t["TopicArn"].endswith(name))
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    assert subscription["Protocol"] == "sqs" and subscription["Endpoint"].endswith("-webhooks")
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription["SubscriptionArn"])["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"


@pytest.mark.parametrize("body, field", [
    ({"url": "https://10.1.2.3/in", "event_types": ["product.created"]}, "url"),
    ({"url": "https://127.0.0.1/in", "event_types": ["product.exploded"]}, "event_types"),
    ({"url": "https://127.0.0.1/in", "event_types": []}, "event_types"),
    ({"url": "https://127.0.0.1/in"}, "event_types"),
])
def test_bad_input_is_a_400_naming_the_field_and_writes_nothing(tenant_a, body, field):
    api = tenant_a.admin.client()
    response = api.post(ENDPOINTS, body, format="json")
    assert response.status_code == 400, response.content
    assert field in json.dumps(response.json())
    assert api.get(ENDPOINTS).json()["results"] == []
    assert tenant_topic_names(tenant_a.id) == set()


def test_another_tenants_endpoint_is_a_404_and_viewers_cannot_see_endpoints(tenant_a, tenant_b, viewer):
    endpoint = create_endpoint(tenant_a.admin.client(), "https://127.0.0.1/in", ["*"])
    other = tenant_b.admin.client()
    assert other.get(f"{ENDPOINTS}/{endpoint['id']}").status_code == 404
    assert other.post(f"{ENDPOINTS}/{endpoint['id']}/secret").status_code == 404
    assert viewer.client().get(ENDPOINTS).status_code == 403


def test_every_delivery_verifies_with_standardwebhooks_and_goes_only_to_endpoints_of_its_type(
        tenant_a, endpoint_receiver, delivery_clock):
    api = tenant_a.admin.client()
    only_created = create_endpoint(api, endpoint_receiver.url("/created"), ["product.created"])
    everything = create_endpoint(api, endpoint_receiver.url("/all"), ["*"])
    product = make_product(api, "WH-1")
    assert api.patch(f"{PRODUCTS}/{product['id']}", {"stock": 5}, format="json",
                     HTTP_IF_MATCH=f'"{product["id"]}:{product["version"]}"').status_code == 200
    deliver_pending(tenant_a.id)

    [(headers, body)] = endpoint_receiver.received("/created")
    payload = verify(only_created["secret"], headers, body)
    assert payload["type"] == "product.created" and payload["tenant_id"] == tenant_a.id
    assert headers["webhook-id"] == payload["id"] and headers["content-type"] == "application/json"
    received = endpoint_receiver.received("/all")
    assert sorted(verify(everything["secret"], h, b)["type"] for h, b in received) == ["product.created",
                                                                                        "product.updated"]
    # The other endpoint's secret, a tampered body, or an old timestamp: rejected.
    with pytest.raises(WebhookVerificationError):
        verify(everything["secret"], headers, body)
    with pytest.raises(WebhookVerificationError):
        verify(only_created["secret"], headers, body.replace(b"WH-1", b"WH-2"))
    stale = {**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 600)}
    with pytest.raises(WebhookVerificationError):
        verify(only_created["secret"], stale, body)
    # Both reached their endpoints once: the log says so.
    attempts = api.get(f"{ENDPOINTS}/{everything['id']}/attempts").json()["results"]
    assert len(attempts) == 2 and {a["status_code"] for a in attempts} == {200} and all(a["error"] is None for a in attempts)


def test_a_rotated_secret_signs_alongside_the_old_one_during_the_overlap_and_alone_after(
        tenant_a, endpoint_receiver, delivery_clock):
    api = tenant_a.admin.client()
    endpoint = create_endpoint(api, endpoint_receiver.url("/in"), ["product.created"])
    old = endpoint["secret"]
    rotated = api.post(f"{ENDPOINTS}/{endpoint['id']}/secret/rotate").json()
    new = rotated["secret"]
    assert new != old and rotated["previous_valid_until"] == int(delivery_clock.now + 24 * 3600)
    make_product(api, "ROT-1")
    deliver_pending(tenant_a.id)
    [(headers, body)] = endpoint_receiver.received("/in")
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert verify(old, headers, body) == verify(new, headers, body)  # either verifies during the overlap

    # A rotation 25 hours ago (the verifying library checks timestamps against the real clock, so
    # the rotation moves back rather than the deliveries forward): only the new secret signs now.
    later = create_endpoint(api, endpoint_receiver.url("/later"), ["product.created"])
    real_now = delivery_clock.now
    delivery_clock.now -= 25 * 3600
    newer = api.post(f"{ENDPOINTS}/{later['id']}/secret/rotate").json()["secret"]
    delivery_clock.now = real_now
    make_product(api, "ROT-2")
    deliver_pending(tenant_a.id)
    [(headers, body)] = endpoint_receiver.received("/later")
    assert len(headers["webhook-signature"].split(" ")) == 1
    assert verify(newer, headers, body)["type"] == "product.created"
    with pytest.raises(WebhookVerificationError):
        verify(later["secret"], headers, body)  # rotated out
    assert api.post(f"{ENDPOINTS}/{later['id']}/secret").json()["secret"] == newer


def test_revealing_the_secret_is_audited_without_the_secret(tenant_a):
    api = tenant_a.admin.client()
    endpoint = create_endpoint(api, "https://127.0.0.1/in", ["*"])
    assert api.post(f"{ENDPOINTS}/{endpoint['id']}/secret").json()["secret"] == endpoint["secret"]
    trail = api.get("/api/v1/audit", {"target_id": endpoint["id"]})
    assert trail.status_code == 200, trail.content
    actions = [r["action"] for r in trail.json()["results"]]
    assert "webhook.secret_revealed" in actions and "webhook.endpoint_created" in actions
    assert endpoint["secret"] not in trail.content.decode()


def _deliveries(tenant_id: str) -> list[dict]:
    with tenant_context(tenant_id):
        return list(WebhookDelivery.objects.every())


def test_failures_follow_the_schedule_and_one_failing_endpoint_never_duplicates_to_another(
        tenant_a, endpoint_receiver, delivery_clock):
    api = tenant_a.admin.client()
    healthy = create_endpoint(api, endpoint_receiver.url("/ok"), ["product.created"])
    failing = create_endpoint(api, endpoint_receiver.url("/down"), ["product.created"])
    endpoint_receiver.answer("/down", 500)
    make_product(api, "RETRY-1")
    deliver_pending(tenant_a.id)
    assert len(endpoint_receiver.received("/ok")) == 1 and len(endpoint_receiver.received("/down")) == 1
    for delay in (5, 300, 1800, 7200, 18000, 36000):
        assert sweep(tenant_a.id) == 0  # not due yet
        delivery_clock.now += delay
        assert sweep(tenant_a.id) == 1  # only the failing pair is retried
    assert len(endpoint_receiver.received("/down")) == 7
    endpoint_receiver.answer("/down", 302)  # a redirect is a failure, never followed
    delivery_clock.now += 36000
    assert sweep(tenant_a.id) == 1
    assert endpoint_receiver.received("/elsewhere") == []
    delivery_clock.now += 10 * 86400
    assert sweep(tenant_a.id) == 0  # eight attempts: failed, waiting for a resend or a recovery
    assert len(endpoint_receiver.received("/ok")) == 1  # never a second copy at the healthy one
    by_endpoint = {d["endpoint_id"]: d for d in _deliveries(tenant_a.id)}
    assert by_endpoint[healthy["id"]]["status"] == "delivered"
    assert by_endpoint[failing["id"]]["status"] == "failed" and by_endpoint[failing["id"]]["attempts"] == 8
    failed = api.get(f"{ENDPOINTS}/{failing['id']}/attempts", {"status": "failed"}).json()["results"]
    assert len(failed) == 8 and failed[0]["status_code"] == 302 and failed[0]["error"] == "redirect"
    assert len(failed[1]["response"]) == 1024  # the first KiB of the answer is kept
    ids = {h["webhook-id"] for h, _ in endpoint_receiver.received("/down")}
    assert len(ids) == 1  # the same webhook-id on every retry

    # Resend: one message to one endpoint, the same id again.
    endpoint_receiver.answer("/down", 204)
    [message_id] = ids
    resent = api.post(f"/api/v1/webhooks/messages/{message_id}/endpoints/{failing['id']}/resend")
    assert resent.status_code == 202, resent.content
    assert sweep(tenant_a.id) == 1
    assert endpoint_receiver.ids("/down")[-1] == message_id and len(endpoint_receiver.received("/ok")) == 1


def test_410_gone_disables_the_endpoint_with_an_audit_record(tenant_a, endpoint_receiver, delivery_clock):
    api = tenant_a.admin.client()
    endpoint = create_endpoint(api, endpoint_receiver.url("/gone"), ["product.created"])
    endpoint_receiver.answer("/gone", 410)
    make_product(api, "GONE-1")
    deliver_pending(tenant_a.id)
    shown = api.get(f"{ENDPOINTS}/{endpoint['id']}").json()
    assert shown["enabled"] is False and "410" in shown["disabled_reason"]
    make_product(api, "GONE-2")
    deliver_pending(tenant_a.id)
    delivery_clock.now += 86400
    sweep(tenant_a.id)
    assert len(endpoint_receiver.received("/gone")) == 1  # nothing after
    actions = [r["action"] for r in api.get("/api/v1/audit", {"target_id": endpoint["id"]}).json()["results"]]
    assert "webhook.endpoint_disabled" in actions


def test_an_address_that_turns_private_between_check_and_connect_is_never_contacted(
        settings, monkeypatch, endpoint_receiver):
    """Models DNS rebinding: the name resolved to a public address when the endpoint was checked and
    resolves to a private one at delivery. Delivery resolves once, checks, and connects to that
    checked address only."""
    settings.WEBHOOKS_ALLOW_INSECURE_LOCAL = False
    answers = iter([["93.184.215.14"], ["10.0.0.7"]])  # check time, then delivery time
    from webhooks import url_validation

    assert url_validation.validate_for_settings("https://hooks.example.com/in",
                                                resolve=lambda h, p: next(answers)) == "https://hooks.example.com/in"
    connects = []
    monkeypatch.setattr("urllib3.util.connection.create_connection", lambda *a, **k: connects.append(a) or 1 / 0)
    outcome = transport.post("https://hooks.example.com/in", body=b"{}", headers={}, resolve=lambda h, p: next(answers))
    assert outcome.error == "refused_address" and outcome.status_code is None and connects == []

    # Loopback allowed (local stacks): one resolution per attempt; a second answer is never used.
    settings.WEBHOOKS_ALLOW_INSECURE_LOCAL = True
    monkeypatch.undo()
    calls = []

    def resolver(host, port):
        calls.append(host)
        return ["127.0.0.1"] if len(calls) == 1 else ["10.0.0.7"]

    port = endpoint_receiver.server.server_address[1]
    outcome = transport.post(f"http://receiver.test:{port}/pinned", body=b"{}", headers={}, resolve=resolver)
    assert outcome.status_code == 200 and calls == ["receiver.test"]
    [(headers, _)] = endpoint_receiver.received("/pinned")
    assert headers["host"] == f"receiver.test:{port}"  # the URL's host, not the address


def test_endpoints_count_against_the_plan_limit(tenant_a, settings):
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "webhook_endpoints": 2}}
    api = tenant_a.admin.client()
    first = create_endpoint(api, "https://127.0.0.1/1", ["*"])
    create_endpoint(api, "https://127.0.0.1/2", ["*"])
    refused = api.post(ENDPOINTS, {"url": "https://127.0.0.1/3", "event_types": ["*"]}, format="json")
    assert refused.status_code == 403 and refused.json()["limit"] == "webhook_endpoints"
    assert api.delete(f"{ENDPOINTS}/{first['id']}").status_code == 204
    create_endpoint(api, "https://127.0.0.1/3", ["*"])
    with tenant_context(tenant_a.id):
        assert len(list(WebhookEndpoint.objects.every())) == 2


def test_attempt_items_are_tenant_scoped(tenant_a, tenant_b, endpoint_receiver, delivery_clock):
    api = tenant_a.admin.client()
    endpoint = create_endpoint(api, endpoint_receiver.url("/a"), ["product.created"])
    make_product(api, "SCOPE-1")
    deliver_pending(tenant_a.id)
    with tenant_context(tenant_b.id):
        assert list(WebhookAttempt.objects.every()) == []
    assert tenant_b.admin.client().get(f"{ENDPOINTS}/{endpoint['id']}/attempts").status_code == 404
    messages = api.get("/api/v1/webhooks/messages").json()["results"]
    assert [m["type"] for m in messages] == ["product.created"]
    assert tenant_b.admin.client().get(f"/api/v1/webhooks/messages/{messages[0]['id']}").status_code == 404


def test_every_event_type_has_a_served_json_schema_that_real_deliveries_satisfy(tenant_a, endpoint_receiver,
                                                                                delivery_clock):
    from jsonschema import Draft202012Validator
    from rest_framework.test import APIClient

    from saas.events import EVENT_TYPES
    from webhooks.selectors import sample_envelope

    anonymous = APIClient()
    for event_type in EVENT_TYPES:
        served = anonymous.get(f"/api/v1/webhooks/schemas/{event_type}.json")
        assert served.status_code == 200, served.content
        schema = served.json()
        Draft202012Validator.check_schema(schema)
        Draft202012Validator(schema).validate(sample_envelope(event_type=event_type, tenant_id=tenant_a.id))
    assert anonymous.get("/api/v1/webhooks/schemas/product.exploded.json").status_code == 404

    api = tenant_a.admin.client()
    create_endpoint(api, endpoint_receiver.url("/schema"), ["*"])
    make_product(api, "SCHEMA-1")
    deliver_pending(tenant_a.id)
    [(_, body)] = endpoint_receiver.received("/schema")
    delivered = json.loads(body)
    schema = anonymous.get(f"/api/v1/webhooks/schemas/{delivered['type']}.json").json()
    Draft202012Validator(schema).validate(delivered)
    wrong = anonymous.get("/api/v1/webhooks/schemas/order.created.json").json()
    assert list(Draft202012Validator(wrong).iter_errors(delivered))  # a product is not an order


def test_more_endpoints_than_one_transaction_holds_each_get_the_event_once(tenant_a, settings, endpoint_receiver,
                                                                            delivery_clock):
    """DynamoDB takes 100 items per transaction; the platinum plan allows 200 endpoints."""
    settings.PLAN_LIMITS = {**settings.PLAN_LIMITS, "basic": {**settings.PLAN_LIMITS["basic"], "webhook_endpoints": 150}}
    from webhooks.services import create_endpoint as create

    with tenant_context(tenant_a.id):
        for n in range(120):
            create(url=endpoint_receiver.url(f"/many/{n}"), event_types=["product.created"])
    make_product(tenant_a.admin.client(), "MANY-1")
    deliver_pending(tenant_a.id)
    counts = [len(endpoint_receiver.received(f"/many/{n}")) for n in range(120)]
    assert counts == [1] * 120
    deliver_pending(tenant_a.id)  # nothing more, whatever is read again
    assert sweep(tenant_a.id) == 0
