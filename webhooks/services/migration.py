"""Moving a tenant's SNS-HTTPS subscriptions (one per URL and event type) to endpoints (one per URL,
with every type it was subscribed to), then removing the subscriptions (and their per-type topics)."""
from __future__ import annotations

from collections import defaultdict

from ..models import SUSPENDED, WebhookEndpoint, WebhookSubscription
from .endpoints import create_endpoint
from .subscriptions import unsubscribe


def migrate_subscriptions(*, dry_run: bool = False) -> list[dict]:
    """For the tenant in context: one endpoint per subscribed URL (an endpoint with that URL already
    there is reused, its types widened), then every subscription removed. Idempotent: a second run
    finds no subscription. Suspended subscriptions (their host failed the URL rules) are removed
    without an endpoint. Returns one line per URL: {"url", "event_types", "endpoint_id", "created"}."""
    by_url: dict[str, list[dict]] = defaultdict(list)
    for subscription in WebhookSubscription.objects.every():
        by_url[subscription["url"]].append(subscription)
    existing = {e["url"]: e for e in WebhookEndpoint.objects.every()}
    report = []
    for url, subscriptions in sorted(by_url.items()):
        kept = [s for s in subscriptions if s["status"] != SUSPENDED]
        types = sorted({s["event_type"] for s in kept})
        line = {"url": url, "event_types": types, "endpoint_id": None, "created": False}
        if not dry_run:
            if types and url in existing:
                from .endpoints import update_endpoint

                endpoint = existing[url]
                wanted = sorted(set(endpoint["event_types"]) | set(types)) if "*" not in endpoint["event_types"] else ["*"]
                update_endpoint(endpoint_id=endpoint["id"], event_types=wanted)
                line["endpoint_id"] = endpoint["id"]
            elif types:
                endpoint, _secret = create_endpoint(url=url, event_types=types,
                                                    description="Migrated from SNS subscriptions")
                line.update(endpoint_id=endpoint["id"], created=True)
            for subscription in subscriptions:  # the endpoint exists first: no event falls between
                unsubscribe(subscription_id=subscription["id"])
        report.append(line)
    return report
