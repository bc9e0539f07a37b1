"""Webhook delivery: publish -> delivery latency, and events per second through the outbox relay.

Endpoints (``endpoints()``): publish -> the tenant's topic -> the delivery queue (moto) -> a worker
thread long-polling it (what the worker stage's event source does) -> signed POST to a receiver on
127.0.0.1: publish -> delivered p50/p99; deliveries per second of one worker invocation (a batch
of 10 queue messages, ``webhooks.worker.handle_sqs``, one endpoint); the signing cost per delivery.

Legacy SNS-HTTPS subscriptions (the rest): locally SNS is the moto server, which POSTs to the
subscriber inside the Publish call (and signs each message with a freshly generated RSA key), so
latency there is mostly the emulator's; against real SNS delivery is asynchronous.

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_webhooks.py
"""
from __future__ import annotations

import json
import time
import uuid

from _common import CallCounter, percentiles, setup_django, size

setup_django()

import threading  # noqa: E402

from devstack.webhook_receiver import EndpointReceiver, Receiver  # noqa: E402
from saas import aws, outbox, queues  # noqa: E402
from saas.events import ORDER_CREATED  # noqa: E402
from saas.tenancy import tables, tenant_context  # noqa: E402
from saas.tenancy.store import now_iso, transact_write  # noqa: E402
from webhooks import queue, services, signing  # noqa: E402
from webhooks.worker import handle_sqs  # noqa: E402

LATENCY_EVENTS = size(300, 3)
ENDPOINT_LATENCY_EVENTS = size(200, 3)
INVOCATIONS = size(30, 2)  # worker invocations of 10 messages each
RELAY_EVENTS = size(300, 5)
TRANSACTION_SIZE = 25


def wait_for(receiver: Receiver, ids: set[str]) -> None:
    if not receiver.wait_for_ids(ids):
        raise SystemExit(f"only {len(ids & receiver.arrivals.keys())}/{len(ids)} deliveries arrived")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def event(tenant_id: str, seq: int) -> dict:
    return {"id": outbox.new_event_id(), "type": ORDER_CREATED, "tenant_id": tenant_id, "data": {"seq": seq},
            "event_created_at": now_iso()}


def pending_events(count: int) -> list[str]:
    """``count`` pending outbox events of the tenant in context, committed TRANSACTION_SIZE at a time."""
    ids = []
    for start in range(0, count, TRANSACTION_SIZE):
        ops = []
        for seq in range(start, min(start + TRANSACTION_SIZE, count)):
            op, written = outbox.event_op(ORDER_CREATED, {"seq": seq})
            ops.append(op)
            ids.append(written["id"])
        transact_write(ops)
    return ids


def main() -> None:
    tables.ensure_all()
    tenant_id = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
    receiver = Receiver()
    sns_calls = CallCounter("sns")
    ddb_calls = CallCounter("dynamodb")
    try:
        with tenant_context(tenant_id):
            subscription = services.subscribe(event_type=ORDER_CREATED, url=receiver.url("/bench"))
            for n in range(20):  # warm clients, connection pools and the topic cache
                services.publish_event(event=event(tenant_id, n))

            # 1. publish -> delivery latency, one event at a time
            started: dict[str, float] = {}
            call_times = []
            for n in range(LATENCY_EVENTS):
                item = event(tenant_id, n)
                started[item["id"]] = time.perf_counter()
                services.publish_event(event=item)
                call_times.append(time.perf_counter() - started[item["id"]])
            wait_for(receiver, set(started))
            latency = percentiles([receiver.arrivals[i] - t for i, t in started.items()])
            call = percentiles(call_times)

            # 2. events per second through the outbox relay (saas.outbox.relay, in-process)
            ids = pending_events(RELAY_EVENTS)
            with sns_calls.counting() as sns_during, ddb_calls.counting() as ddb_during:
                relay_started = time.perf_counter()
                outcomes = outbox.relay(ids)
                relay_seconds = time.perf_counter() - relay_started
            wait_for(receiver, set(ids))
            delivered_seconds = max(receiver.arrivals[i] for i in ids) - relay_started

            # 2b. the relay's own throughput: the same, but SNS accepts without delivering. moto
            # delivers to HTTP subscribers inside the Publish call (real SNS delivers afterwards), so
            # above the figure is mostly moto's delivery; here the subscription's filter policy
            # matches nothing, so moto only accepts the messages.
            aws.client("sns").set_subscription_attributes(
                SubscriptionArn=subscription["subscription_arn"], AttributeName="FilterPolicy",
                AttributeValue=json.dumps({"tenant_id": ["nobody"]}))
            quiet_ids = pending_events(RELAY_EVENTS)
            quiet_started = time.perf_counter()
            quiet_outcomes = outbox.relay(quiet_ids)
            quiet_seconds = time.perf_counter() - quiet_started

            # 3. the same with nobody subscribed: the skip path
            services.unsubscribe(subscription_id=subscription["id"])
            skip_started = time.perf_counter()
            for n in range(RELAY_EVENTS):
                services.publish_event(event=event(tenant_id, n))
            skip_seconds = time.perf_counter() - skip_started
    finally:
        receiver.stop()

    print(f"webhooks bench (tenant {tenant_id}; SNS = moto server, subscriber = HTTP on 127.0.0.1)")
    print(f"  publish -> delivery latency ({LATENCY_EVENTS} events): p50 {ms(latency['p50'])}  p99 {ms(latency['p99'])}")
    print(f"  publish_event call time:                  p50 {ms(call['p50'])}  p99 {ms(call['p99'])}")
    print(f"  outbox relay, {RELAY_EVENTS} pending events in-process (saas.outbox.relay): "
          f"{RELAY_EVENTS / relay_seconds:.0f} events/s, all delivered in {delivered_seconds:.2f} s  {outcomes}")
    print(f"    per event: {len(sns_during) / RELAY_EVENTS:.2f} SNS calls, {len(ddb_during) / RELAY_EVENTS:.2f} DynamoDB calls")
    print(f"  outbox relay, {RELAY_EVENTS} events, SNS accepting without delivering: "
          f"{RELAY_EVENTS / quiet_seconds:.0f} events/s  {quiet_outcomes}")
    print(f"  publish_event with no subscriber (skip, cached lookup): {RELAY_EVENTS / skip_seconds:.0f} events/s  "
          f"(skipped so far in this process: {sum(n for (o, _), n in services.publish_outcomes.items() if o == 'skipped')})")


def _wait_arrivals(receiver: EndpointReceiver, ids: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ids <= receiver.arrivals.keys():
        if time.monotonic() > deadline:
            raise SystemExit(f"only {len(ids & receiver.arrivals.keys())}/{len(ids)} deliveries arrived")
        time.sleep(0.001)


def endpoints() -> None:
    queues.ensure_queues()
    tenant_id = f"bench-endpoints-{uuid.uuid4().hex[:8]}"
    receiver = EndpointReceiver()
    try:
        with tenant_context(tenant_id):
            services.create_endpoint(url=receiver.url("/bench"), event_types=[ORDER_CREATED])
            # 1. publish -> delivered, with a worker long-polling the queue in the background
            stop = threading.Event()

            def worker() -> None:
                while not stop.is_set():
                    messages = queue.receive(max_messages=10, wait_seconds=1)
                    if messages:
                        handle_sqs({"Records": [{"messageId": m["id"], "body": m["body"]} for m in messages]})
                        queue.delete([m["receipt"] for m in messages])

            thread = threading.Thread(target=worker, daemon=True)
            thread.start()
            for n in range(10):  # warm up
                item = event(tenant_id, n)
                services.publish_event(event=item)
                _wait_arrivals(receiver, {item["id"]})
            started: dict[str, float] = {}
            for n in range(ENDPOINT_LATENCY_EVENTS):
                item = event(tenant_id, n)
                started[item["id"]] = time.perf_counter()
                services.publish_event(event=item)
                _wait_arrivals(receiver, {item["id"]})
            latency = percentiles([receiver.arrivals[i] - t for i, t in started.items()])
            stop.set()
            thread.join(timeout=5)

            # 2. one worker invocation = one batch of 10 queue messages, timed around handle_sqs
            for n in range(INVOCATIONS * 10):
                services.publish_event(event=event(tenant_id, n))
            rates = []
            for _ in range(INVOCATIONS):
                messages = queue.receive(max_messages=10, wait_seconds=1)
                records = [{"messageId": m["id"], "body": m["body"]} for m in messages]
                began = time.perf_counter()
                result = handle_sqs({"Records": records})
                rates.append(len(records) / (time.perf_counter() - began))
                assert not result["batchItemFailures"], result
                queue.delete([m["receipt"] for m in messages])
            per_invocation = percentiles(rates)
        # 3. signing: one secret, a typical envelope
        secret, body = signing.new_secret(), json.dumps(event(tenant_id, 1)).encode()
        rounds = size(20000, 100)
        began = time.perf_counter()
        for n in range(rounds):
            signing.headers([secret], msg_id="evt", timestamp=1_700_000_000 + n, body=body)
        signing_us = (time.perf_counter() - began) / rounds * 1e6
    finally:
        receiver.stop()
    print(f"webhook endpoints bench (tenant {tenant_id}; SNS + SQS = moto server, endpoint = HTTP on 127.0.0.1)")
    print(f"  publish -> delivered ({ENDPOINT_LATENCY_EVENTS} events, worker long-polling): "
          f"p50 {ms(latency['p50'])}  p99 {ms(latency['p99'])}")
    print(f"  one worker invocation (batch of 10, 1 endpoint): p50 {per_invocation['p50']:.0f} deliveries/s  "
          f"(slowest invocation: {min(rates):.0f}/s)")
    print(f"  signing (HMAC-SHA256, Standard Webhooks): {signing_us:.1f} us per delivery")


if __name__ == "__main__":
    endpoints()
    main()
