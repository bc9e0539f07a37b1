"""publish_event as the outbox relay calls it, and the subscribe/unsubscribe races."""
from __future__ import annotations

import json
import threading

import pytest

from devstack.webhook_receiver import Receiver
from saas.events import ORDER_CANCELLED, ORDER_CREATED, PRODUCT_UPDATED
from saas.tenancy import NoTenantContext, system_context, tenant_context
from saas.tenancy.store import DoesNotExist
from tests.factories import unique
from webhooks import services
from webhooks.models import WebhookSubscription, WebhookTopic
from webhooks.services import EventTenantMismatch, publish_event, subscribe, topics, unsubscribe
from webhooks.sns import SNSUnavailable

from .factories import make_event, tenant_topic_names, topic_name


@pytest.fixture
def tenant_id():
    return unique("wh-")


def test_publish_delivers_the_envelope_with_a_stable_id(tenant_id, receiver):
    with tenant_context(tenant_id):
        subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        event = make_event(tenant_id, ORDER_CREATED, {"order_id": "o1", "total": "12.50"})
        assert publish_event(event=event) == "published"
        assert publish_event(event=event) == "published"  # a relay retry: same id, subscriber de-duplicates
    delivered = receiver.wait_for_count("/hook", 2)
    expected = {"id": event["id"], "type": ORDER_CREATED, "tenant_id": tenant_id,
                "created_at": event["event_created_at"], "aggregate_id": None, "sequence": 0,
                "data": {"order_id": "o1", "total": "12.50"}}
    assert delivered == [expected, expected]
    notification = receiver.deliveries["/hook"][0]
    assert notification["Type"] == "Notification"
    assert notification["TopicArn"].endswith(":" + topic_name(tenant_id, ORDER_CREATED))


def test_publish_without_a_subscriber_is_skipped_counted_and_creates_no_topic(tenant_id, receiver):
    before = services.publish_outcomes["skipped", PRODUCT_UPDATED]
    with tenant_context(tenant_id):
        subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        assert publish_event(event=make_event(tenant_id, PRODUCT_UPDATED)) == "skipped"
    assert services.publish_outcomes["skipped", PRODUCT_UPDATED] == before + 1
    assert tenant_topic_names(tenant_id) == {topic_name(tenant_id, ORDER_CREATED)}
    assert receiver.envelopes("/hook") == []


def test_publish_needs_the_events_own_tenant_context(tenant_id, receiver):
    other = unique("wh-")
    with tenant_context(tenant_id):
        subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
    event = make_event(tenant_id, ORDER_CREATED)
    with pytest.raises(NoTenantContext):
        publish_event(event=event)
    with system_context(reason="test: relay without a tenant"):
        with pytest.raises(NoTenantContext):
            publish_event(event=event)
    with tenant_context(other):
        with pytest.raises(EventTenantMismatch):
            publish_event(event=event)
    assert receiver.envelopes("/hook") == []


def test_publish_raises_when_sns_fails_so_the_relay_retries(tenant_id):
    down = Receiver()
    with tenant_context(tenant_id):
        subscribe(event_type=ORDER_CREATED, url=down.url("/hook"))
        down.stop()  # moto's Publish fails when a subscriber is unreachable
        with pytest.raises(SNSUnavailable):
            publish_event(event=make_event(tenant_id, ORDER_CREATED))


def test_cache_is_invalidated_by_subscribe_and_unsubscribe_in_this_process(tenant_id, receiver):
    with tenant_context(tenant_id):
        assert publish_event(event=make_event(tenant_id, ORDER_CREATED)) == "skipped"  # "no topic" cached
        created = subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        first = make_event(tenant_id, ORDER_CREATED)
        assert publish_event(event=first) == "published"
        unsubscribe(subscription_id=created["id"])
        assert publish_event(event=make_event(tenant_id, ORDER_CREATED)) == "skipped"
    assert [e["id"] for e in receiver.envelopes("/hook")] == [first["id"]]


def test_other_processes_see_a_new_topic_within_the_cache_ttl(tenant_id, receiver, monkeypatch):
    """Another process's cached "no topic" is not invalidated by our subscribe; it expires."""
    now = [1000.0]
    cache = services.TopicCache(clock=lambda: now[0])
    monkeypatch.setattr(topics, "topic_cache", cache)
    with tenant_context(tenant_id):
        assert publish_event(event=make_event(tenant_id, ORDER_CREATED)) == "skipped"
        other_process = services.TopicCache(clock=lambda: now[0])  # the subscribing process's cache
        monkeypatch.setattr(topics, "topic_cache", other_process)
        subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        monkeypatch.setattr(topics, "topic_cache", cache)
        assert publish_event(event=make_event(tenant_id, ORDER_CREATED)) == "skipped"  # stale, within TTL
        now[0] += 5.1
        event = make_event(tenant_id, ORDER_CREATED)
        assert publish_event(event=event) == "published"
    assert [e["id"] for e in receiver.envelopes("/hook")] == [event["id"]]


def test_a_cached_topic_deleted_elsewhere_is_skipped_not_an_error(tenant_id, receiver, monkeypatch):
    with tenant_context(tenant_id):
        created = subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        assert publish_event(event=make_event(tenant_id, ORDER_CREATED)) == "published"  # ARN cached here
        this_process = topics.topic_cache
        monkeypatch.setattr(topics, "topic_cache", services.TopicCache())  # another process unsubscribes
        unsubscribe(subscription_id=created["id"])
        monkeypatch.setattr(topics, "topic_cache", this_process)
        assert this_process.get(tenant_id, ORDER_CREATED, lambda: None) == created["topic_arn"]  # still stale
        assert publish_event(event=make_event(tenant_id, ORDER_CREATED)) == "skipped"
    assert len(receiver.envelopes("/hook")) == 1


@pytest.fixture
def one_sns_call_at_a_time(monkeypatch):
    """The moto server's SNS backend is not thread-safe (concurrent Subscribe/DeleteTopic can fail
    with "OrderedDict mutated during iteration"); real SNS is. Serialize our SNS calls so the races
    under test are the ones between our DynamoDB records and SNS, not inside the emulator."""
    from webhooks import sns

    lock = threading.Lock()

    def serialized(fn):
        def call(*args, **kwargs):
            with lock:
                return fn(*args, **kwargs)
        return call

    for name in ("create_topic", "delete_topic", "subscribe", "unsubscribe", "is_pending_confirmation", "publish"):
        monkeypatch.setattr(sns, name, serialized(getattr(sns, name)))


@pytest.mark.usefixtures("one_sns_call_at_a_time")
def test_racing_first_subscriptions_share_one_topic_and_record(tenant_id, receiver, sns_client, settings):
    paths = [f"/racer{n}" for n in range(6)]
    # The race under test is topic creation, not the plan's subscription limit.
    settings.PLAN_LIMITS = {tier: {**limits, "webhook_subscriptions": None} for tier, limits in settings.PLAN_LIMITS.items()}
    barrier = threading.Barrier(len(paths))
    results, errors = {}, []

    def racer(path):
        with tenant_context(tenant_id):
            barrier.wait(timeout=10)
            try:
                results[path] = subscribe(event_type=ORDER_CREATED, url=receiver.url(path))
            except Exception as exc:  # reported below
                errors.append(exc)

    threads = [threading.Thread(target=racer, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert len({r["topic_arn"] for r in results.values()}) == 1
    assert tenant_topic_names(tenant_id) == {topic_name(tenant_id, ORDER_CREATED)}
    topic_arn = next(iter(results.values()))["topic_arn"]
    endpoints = {s["Endpoint"] for s in sns_client.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]}
    assert endpoints == {receiver.url(p) for p in paths}
    with tenant_context(tenant_id):
        assert WebhookTopic.objects.query().items == [WebhookTopic.objects.get(ORDER_CREATED)]
        event = make_event(tenant_id, ORDER_CREATED)
        publish_event(event=event)
    for path in paths:
        assert [e["id"] for e in receiver.wait_for_count(path, 1)] == [event["id"]]


@pytest.mark.usefixtures("one_sns_call_at_a_time")
def test_subscribe_racing_the_last_unsubscribe_never_loses_its_topic(tenant_id, receiver):
    """Whatever order they land in, a subscription that exists afterwards receives events."""
    for round_ in range(4):
        with tenant_context(tenant_id):
            leaving = subscribe(event_type=ORDER_CANCELLED, url=receiver.url(f"/leaving{round_}"))
        barrier = threading.Barrier(2)
        errors = []

        def leave():
            with tenant_context(tenant_id):
                barrier.wait(timeout=10)
                try:
                    unsubscribe(subscription_id=leaving["id"])
                except Exception as exc:
                    errors.append(exc)

        def join():
            with tenant_context(tenant_id):
                barrier.wait(timeout=10)
                try:
                    subscribe(event_type=ORDER_CANCELLED, url=receiver.url(f"/joining{round_}"))
                except Exception as exc:
                    errors.append(exc)

        threads = [threading.Thread(target=leave), threading.Thread(target=join)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        with tenant_context(tenant_id):
            remaining = WebhookSubscription.objects.query().items
            assert [s["url"] for s in remaining] == [receiver.url(f"/joining{round_}")]
            event = make_event(tenant_id, ORDER_CANCELLED)
            topics.topic_cache.clear()
            assert publish_event(event=event) == "published"
            assert [e["id"] for e in receiver.wait_for_count(f"/joining{round_}", 1)] == [event["id"]]
            unsubscribe(subscription_id=remaining[0]["id"])
            with pytest.raises(DoesNotExist):
                WebhookTopic.objects.get(ORDER_CANCELLED, consistent=True)
        assert tenant_topic_names(tenant_id) == set()
    assert not any(p.startswith("/leaving") for p, v in receiver.deliveries.items() if v)


def test_subscriber_verifier_refuses_deliveries_it_cannot_authenticate(tenant_id, receiver):
    """A real delivery (moto's, signed with a key whose certificate is never published) parses as
    an SNS Notification but is refused: a foreign topic before any certificate fetch, and a
    signature that does not match the certificate served for its SigningCertURL."""
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    from webhook_verifier import InvalidSignature, SNSMessageVerifier, UnexpectedTopic

    with tenant_context(tenant_id):
        created = subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        publish_event(event=make_event(tenant_id, ORDER_CREATED))
    assert len(receiver.wait_for_count("/hook", 1)) == 1
    body = json.dumps(receiver.deliveries["/hook"][0])

    fetched = []
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    pem = certificate.public_bytes(serialization.Encoding.PEM)

    def fetch(url):
        fetched.append(url)
        return pem

    other_topic = created["topic_arn"].replace(tenant_id, unique("wh-"))
    with pytest.raises(UnexpectedTopic):
        SNSMessageVerifier(expected_topic_arns={other_topic}, fetch_certificate=fetch).handle(body)
    assert fetched == []
    with pytest.raises(InvalidSignature):
        SNSMessageVerifier(expected_topic_arns={created["topic_arn"]}, fetch_certificate=fetch).handle(body)
    assert len(fetched) == 1


def test_the_outbox_relay_publishes_through_publish_event(tenant_id, receiver):
    """Events written by a service's transaction reach the subscriber via the relay, numbers intact,
    and an event with no subscriber is marked sent as skipped."""
    from saas import outbox
    from saas.tenancy.store import transact_write

    with tenant_context(tenant_id):
        subscribe(event_type=ORDER_CREATED, url=receiver.url("/hook"))
        wanted_op, wanted = outbox.event_op(ORDER_CREATED, {"order_id": "o1", "quantity": 3, "total": "9.90"})
        unwanted_op, unwanted = outbox.event_op(PRODUCT_UPDATED, {"product_id": "p1"})
        transact_write([wanted_op, unwanted_op])
        assert outbox.relay([wanted["id"], unwanted["id"]]) == {"published": 1, "skipped": 1}
        assert outbox.OutboxEvent.objects.get(wanted["id"])["status"] == outbox.SENT
    assert receiver.wait_for_count("/hook", 1) == [{
        "id": wanted["id"], "type": ORDER_CREATED, "tenant_id": tenant_id, "created_at": wanted["event_created_at"],
        "aggregate_id": None, "sequence": 0, "data": {"order_id": "o1", "quantity": 3, "total": "9.90"}}]
