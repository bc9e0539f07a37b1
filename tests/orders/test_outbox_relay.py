"""The outbox relay against DynamoDB Local: claim, publish, mark sent; back-off on failure, never
dropped, never published twice by two relays holding the same snapshot. The publisher is swapped
through the ``publish_events`` hook (``saas.hooks``) for one that fails or records."""
from __future__ import annotations

import time

import pytest

from saas import outbox
from saas.hooks import hooks
from saas.outbox import OutboxEvent, event_op
from saas.tenancy import tenant_context
from saas.tenancy.store import transact_write

published: list[str] = []


def failing_publisher(events: list[dict]) -> list:
    return [RuntimeError("SNS is unavailable") for _ in events]


def recording_publisher(events: list[dict]) -> list:
    published.extend(event["id"] for event in events)
    return ["published"] * len(events)


@pytest.fixture
def pending_event(tenant_a):
    published.clear()
    with tenant_context(tenant_a.id):
        put, event = event_op("order.created", {"id": "order-1"})
        transact_write([put])
        yield event


def stored(event_id: str) -> dict:
    return OutboxEvent.objects.get(event_id, consistent=True)


def pending_ids() -> list[str]:
    return [e["id"] for e in OutboxEvent.objects.query(index="pending", value="PENDING", limit=100).items]


def test_a_failed_publish_stays_pending_with_exponential_back_off_until_it_succeeds(pending_event, monkeypatch,
                                                                                  settings):
    settings.OUTBOX_RETRY_BASE_SECONDS, settings.OUTBOX_RETRY_MAX_SECONDS = 30, 900
    monkeypatch.setattr(hooks, "publish_events", failing_publisher)
    now = time.time()

    assert outbox.deliver(stored(pending_event["id"]), now=now) == "failed"
    first = stored(pending_event["id"])
    assert (first["status"], first["attempts"], first["next_attempt_at"]) == ("pending", 1, int(now + 30))
    assert "SNS is unavailable" in first["last_error"]
    assert pending_ids() == [pending_event["id"]]
    assert outbox.relay_pending() == {"not_due": 1}  # the sweep waits for the back-off

    assert outbox.deliver(first, now=now + 31) == "failed"
    assert stored(pending_event["id"])["next_attempt_at"] == int(now + 31 + 60)
    assert outbox.retry_delay(20) == 900  # capped, never given up

    monkeypatch.setattr(hooks, "publish_events", recording_publisher)
    assert outbox.deliver(stored(pending_event["id"]), now=now + 200) == "published"
    sent = stored(pending_event["id"])
    assert (sent["status"], sent["outcome"], sent["attempts"]) == ("sent", "published", 3)
    assert pending_ids() == []
    assert outbox.relay([pending_event["id"]]) == {"sent": 1}
    assert published == [pending_event["id"]]


def test_two_relays_with_the_same_snapshot_publish_once(pending_event, monkeypatch):
    monkeypatch.setattr(hooks, "publish_events", recording_publisher)
    snapshot = stored(pending_event["id"])

    outcomes = [outbox.deliver(snapshot), outbox.deliver(snapshot)]

    assert outcomes == ["published", "taken"]
    assert published == [pending_event["id"]]
    assert stored(pending_event["id"])["status"] == "sent"


def test_the_sweep_publishes_every_due_pending_event(tenant_a, monkeypatch):
    published.clear()
    monkeypatch.setattr(hooks, "publish_events", recording_publisher)
    with tenant_context(tenant_a.id):
        events = []
        for n in range(3):
            put, event = event_op("order.created", {"id": f"order-{n}"})
            transact_write([put])
            events.append(event["id"])
        assert outbox.relay_pending() == {"published": 3}
        assert published == sorted(events)  # index order: ids start with their creation time
        assert pending_ids() == []


@pytest.fixture
def transactions(monkeypatch):
    """The TransactWriteItems the relay commits (each a list of item writes)."""
    seen: list[list[dict]] = []
    real = outbox.transact_write

    def recording(operations, **kwargs):
        seen.append(list(operations))
        return real(operations, **kwargs)

    monkeypatch.setattr(outbox, "transact_write", recording)
    return seen


def test_the_relay_job_publishes_a_new_event_with_one_write_and_counts_the_attempt(pending_event, monkeypatch,
                                                                                  transactions, settings):
    monkeypatch.setattr(hooks, "publish_events", recording_publisher)
    now = time.time()

    assert outbox.relay([pending_event["id"]], now=now) == {"published": 1}

    assert published == [pending_event["id"]]
    assert [len(ops) for ops in transactions] == [1]  # the mark only: a first try is not claimed first
    sent = stored(pending_event["id"])
    assert (sent["status"], sent["attempts"], sent["outcome"]) == ("sent", 1, "published")
    assert pending_ids() == []
    assert outbox.relay([pending_event["id"]]) == {"sent": 1} and published == [pending_event["id"]]


def test_a_failed_first_try_of_the_relay_job_waits_for_its_back_off_then_the_sweep_delivers(pending_event,
                                                                                             monkeypatch, settings):
    settings.OUTBOX_RETRY_BASE_SECONDS = 30
    monkeypatch.setattr(hooks, "publish_events", failing_publisher)
    now = time.time()

    assert outbox.relay([pending_event["id"]], now=now) == {"failed": 1}
    failed = stored(pending_event["id"])
    assert (failed["status"], failed["attempts"], failed["next_attempt_at"]) == ("pending", 1, int(now + 30))
    assert "SNS is unavailable" in failed["last_error"]

    monkeypatch.setattr(hooks, "publish_events", recording_publisher)
    assert outbox.relay([pending_event["id"]], now=now + 1) == {"not_due": 1}  # a retried job respects it
    assert outbox.relay_pending() == {"not_due": 1}
    assert published == []
    assert outbox.deliver(stored(pending_event["id"]), now=now + 31) == "published"
    assert stored(pending_event["id"])["attempts"] == 2 and published == [pending_event["id"]]
