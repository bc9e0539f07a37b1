"""A webhook endpoint down, then up: every event arrives, under the id it had from the start.

No reliance on the moto server delivering inside Publish (real SNS never does): events go through
the tenant's topic to the delivery queue, our worker POSTs them, and failures wait on the durable
schedule (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h). Time is the delivery clock, moved
by the test; the endpoint sits behind a fault proxy that refuses connections while "down"."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook

from devstack.webhook_receiver import EndpointReceiver
from saas.tenancy import tenant_context
from tests.outages.proxy import FaultProxy
from tests.webhooks.factories import ENDPOINTS, deliver_pending, sweep
from webhooks.models import WebhookDelivery

HOUR, DAY = 3600, 86400


@pytest.fixture
def endpoint():
    receiver = EndpointReceiver()
    with FaultProxy(receiver.server.server_address[1]) as proxy:
        yield receiver, proxy
    receiver.stop()


def signed_by(secret: str, headers: dict, body: bytes) -> bool:
    """Signature check with the standardwebhooks library at the delivery's own timestamp (the
    deliveries of a simulated outage carry simulated times, which its replay window would refuse)."""
    timestamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=timezone.utc)
    expected = Webhook(secret).sign(headers["webhook-id"], timestamp, body.decode())
    return expected in headers["webhook-signature"].split(" ")


def publish(api, tenant_id: str, n: int, prefix: str) -> list[str]:
    for i in range(n):
        assert api.post("/api/v1/products", {"sku": f"{prefix}-{i}", "name": "n", "price": "1.00", "currency": "USD",
                                             "stock": 1}, format="json").status_code == 201
    before = {d["message_id"] for d in _deliveries(tenant_id)}
    deliver_pending(tenant_id)
    return sorted({d["message_id"] for d in _deliveries(tenant_id)} - before)


def _deliveries(tenant_id: str) -> list[dict]:
    with tenant_context(tenant_id):
        return list(WebhookDelivery.objects.every())


def run_until(clock, tenant_id: str, until: float, step: float = 60) -> None:
    """The sweep every ``step`` simulated seconds up to ``until``."""
    while clock.now < until:
        clock.now = min(clock.now + step, until)
        sweep(tenant_id)


def test_an_endpoint_down_for_two_hours_gets_every_event_afterwards_once_with_its_id(tenant_a, endpoint, delivery_clock):
    receiver, proxy = endpoint
    api = tenant_a.admin.client()
    created = api.post(ENDPOINTS, {"url": proxy.url(path="/hook"), "event_types": ["product.created"]}, format="json")
    assert created.status_code == 201, created.content
    secret = created.json()["secret"]

    proxy.set("refuse")
    start = delivery_clock.now
    ids = publish(api, tenant_a.id, 12, "OUT")
    assert len(ids) == 12 and receiver.received("/hook") == []
    run_until(delivery_clock, tenant_a.id, start + 2 * HOUR)
    assert receiver.received("/hook") == []  # retried at 5 s, 5 min, 30 min: all refused
    proxy.set("pass")  # back after two hours: the next retry (2 h after the third) delivers
    run_until(delivery_clock, tenant_a.id, start + 3 * HOUR)
    received = receiver.received("/hook")
    assert sorted(h["webhook-id"] for h, _ in received) == ids  # every event once, under its own id
    assert all(signed_by(secret, h, b) for h, b in received)
    assert {d["status"] for d in _deliveries(tenant_a.id)} == {"delivered"}
    assert min(int(d["attempts"]) for d in _deliveries(tenant_a.id)) == 5  # retried, not re-created


def test_an_endpoint_down_for_six_days_is_disabled_and_recover_since_brings_everything_back(
        tenant_a, endpoint, delivery_clock, monkeypatch):
    receiver, proxy = endpoint
    told = []
    monkeypatch.setattr("tenants.notifications.notify_endpoint_disabled", lambda **kw: told.append(kw) or True)
    api = tenant_a.admin.client()
    created = api.post(ENDPOINTS, {"url": proxy.url(path="/hook"), "event_types": ["*"]}, format="json").json()

    proxy.set("refuse")
    start = delivery_clock.now
    ids: list[str] = []
    for day in range(6):  # an event a day while the endpoint is down
        run_until(delivery_clock, tenant_a.id, start + day * DAY, step=HOUR)
        ids += publish(api, tenant_a.id, 1, f"DAY{day}")
    run_until(delivery_clock, tenant_a.id, start + 6 * DAY, step=HOUR)
    shown = api.get(f"{ENDPOINTS}/{created['id']}").json()
    assert shown["enabled"] is False and "5 days" in shown["disabled_reason"]
    assert [t["endpoint_id"] for t in told] == [created["id"]]  # the tenant's admins were told, once
    trail = api.get("/api/v1/audit", {"target_id": created["id"]}).json()["results"]
    assert "webhook.endpoint_disabled" in [r["action"] for r in trail]

    proxy.set("pass")  # up again, but disabled: nothing is sent any more
    ids += publish(api, tenant_a.id, 1, "AFTER")
    run_until(delivery_clock, tenant_a.id, start + 7 * DAY, step=HOUR)
    assert receiver.received("/hook") == []

    assert api.patch(f"{ENDPOINTS}/{created['id']}", {"enabled": True}, format="json").status_code == 200
    too_early = datetime.fromtimestamp(delivery_clock.now - 31 * DAY, tz=timezone.utc).isoformat()
    assert api.post(f"{ENDPOINTS}/{created['id']}/recover", {"since": too_early}, format="json").status_code == 400
    since = datetime.fromtimestamp(start - 60, tz=timezone.utc).isoformat()
    job = api.post(f"{ENDPOINTS}/{created['id']}/recover", {"since": since}, format="json")
    assert job.status_code == 202, job.content
    from webhooks.services import run_recovery

    with tenant_context(tenant_a.id):
        done = run_recovery(recovery_id=job.json()["id"])
    assert done["status"] == "done" and done["requeued"] == len(ids) == 7
    assert api.get(f"/api/v1/webhooks/recoveries/{done['id']}").json()["requeued"] == 7
    sweep(tenant_a.id)
    assert sorted(receiver.ids("/hook")) == sorted(ids)  # everything, once
    assert all(signed_by(created["secret"], h, b) for h, b in receiver.received("/hook"))
