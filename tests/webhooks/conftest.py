"""Webhook fixtures: a real HTTP receiver on 127.0.0.1 that the moto server delivers to, and SNS
helpers that look at topics exactly as an operator would (ListTopics)."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from saas import aws


class Receiver:
    """Collects SNS deliveries per URL path; answers 200 to each."""

    def __init__(self) -> None:
        self.deliveries: dict[str, list[dict]] = defaultdict(list)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold a handler thread forever

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                notification = json.loads(self.rfile.read(length))
                with receiver._lock:
                    receiver.deliveries[self.path].append(notification)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def envelopes(self, path: str) -> list[dict]:
        """The JSON envelopes (SNS ``Message``) delivered to ``path``."""
        with self._lock:
            return [json.loads(n["Message"]) for n in self.deliveries.get(path, [])]

    def all_envelopes(self) -> list[dict]:
        with self._lock:
            paths = list(self.deliveries)
        return [e for p in paths for e in self.envelopes(p)]

    def wait_for_count(self, path: str, count: int, timeout: float = 5.0) -> list[dict]:
        """moto delivers inside Publish, so this rarely waits; it bounds any lag all the same."""
        deadline = time.monotonic() + timeout
        while len(self.envelopes(path)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.envelopes(path)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture(autouse=True)
def _fresh_topic_cache():
    from webhooks.services import topic_cache

    topic_cache.clear()
    yield
    topic_cache.clear()


@pytest.fixture
def sns_client():
    return aws.client("sns")


def tenant_topic_names(tenant_id: str) -> set[str]:
    """Names of the SNS topics that exist for ``tenant_id`` (by our naming prefix)."""
    from django.conf import settings

    prefix = f"{settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-"
    names = set()
    for page in aws.client("sns").get_paginator("list_topics").paginate():
        for topic in page["Topics"]:
            name = topic["TopicArn"].rsplit(":", 1)[1]
            # The event-type part has no hyphen, so this cannot match a tenant whose id extends ours.
            if name.startswith(prefix) and "-" not in name[len(prefix):]:
                names.add(name)
    return names


def topic_name(tenant_id: str, event_type: str) -> str:
    from django.conf import settings

    return f"{settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-{event_type.replace('.', '_')}"


def make_event(tenant_id: str, event_type: str, data: dict | None = None) -> dict:
    """An event shaped like an outbox item, as the relay hands it to publish_event."""
    from saas.outbox import new_event_id
    from saas.tenancy.store import now_iso

    return {"id": new_event_id(), "type": event_type, "tenant_id": tenant_id, "data": data or {"n": 1},
            "status": "pending", "attempts": 0, "event_created_at": now_iso(), "created_at": now_iso()}
