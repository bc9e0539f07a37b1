"""Endpoints: create, change, enable/disable, delete; their signing secrets (reveal, rotate); the
tenant's delivery topic, created with its first endpoint.

Topology: one SNS topic per tenant (``sns.tenant_topic_name``), subscribed by the delivery queue
with raw message delivery; the worker reads the queue and POSTs each event to the tenant's enabled
endpoints subscribed to its type (``delivery``). The topic stays until the tenant is offboarded
(``delete_tenant_topics`` deletes every topic named for the tenant), so no deletion race exists.

Secrets live in their own item (``WebhookSecret``) that no listing or export reads; audit records
name the action, never the secret.
"""
from __future__ import annotations

import logging

from django.conf import settings

import audit
from audit import Entry
from saas import idempotency as idempotency_records
from saas import limits
from saas.errors import InvalidInput
from saas.events import EVENT_TYPES
from saas.idempotency import Claim
from saas.tenancy import current_tenant_id
from saas.tenancy.store import (
    AlreadyExists,
    DoesNotExist,
    TransactionCancelled,
    UnitOfWork,
    VersionConflict,
    transact_write,
)

from .. import clock, queue, signing, sns
from ..models import ALL_EVENTS, TOPIC_ACTIVE, WebhookEndpoint, WebhookSecret, WebhookTopic
from ..url_validation import InvalidSubscriberURL, validate_for_settings
from . import topics

logger = logging.getLogger("webhooks")

TENANT_TOPIC_ID = "tenant"  # the WebhookTopic record of the tenant's delivery topic
MAX_DESCRIPTION = 500


def _clean_event_types(value) -> list[str]:
    if not isinstance(value, list) or not value:
        raise ValueError("Give at least one event type, or [\"*\"] for all of them.")
    if any(not isinstance(v, str) for v in value):
        raise ValueError("Event types are strings.")
    unknown = [v for v in value if v != ALL_EVENTS and v not in EVENT_TYPES]
    if unknown:
        raise ValueError(f"Unknown event type(s): {', '.join(unknown)}; expected some of: {', '.join(EVENT_TYPES)} or \"*\".")
    return [ALL_EVENTS] if ALL_EVENTS in value else sorted(set(value))


def validate(*, url: str | None = None, event_types=None, description: str | None = None, partial: bool = False) -> dict:
    """The cleaned fields, or InvalidInput naming every bad one (nothing is written)."""
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}
    if url is not None or not partial:
        try:
            cleaned["url"] = validate_for_settings(url or "")
        except InvalidSubscriberURL as exc:
            errors["url"] = [exc.message]
    if event_types is not None or not partial:
        try:
            cleaned["event_types"] = _clean_event_types(event_types)
        except ValueError as exc:
            errors["event_types"] = [str(exc)]
    if description is not None:
        if len(description) > MAX_DESCRIPTION:
            errors["description"] = [f"At most {MAX_DESCRIPTION} characters."]
        cleaned["description"] = description
    if errors:
        raise InvalidInput(fields=errors)
    return cleaned


def subscribes_to(endpoint: dict, event_type: str) -> bool:
    types = endpoint.get("event_types") or []
    return ALL_EVENTS in types or event_type in types


# --- the tenant topic ------------------------------------------------------------------------------
def tenant_topic_arn() -> str | None:
    """The tenant's delivery topic, or None before its first endpoint (publishing then skips)."""
    try:
        topic = WebhookTopic.objects.get(TENANT_TOPIC_ID)
    except DoesNotExist:
        return None
    return topic["topic_arn"] if topic.get("state") == TOPIC_ACTIVE else None


def ensure_tenant_topic() -> str:
    """Create the tenant's topic and subscribe the delivery queue to it (both idempotent at SNS),
    then record it (a racing twin's record wins; same ARN)."""
    existing = tenant_topic_arn()
    if existing:
        return existing
    tenant_id = current_tenant_id()
    topic_arn = sns.create_topic(sns.tenant_topic_name(tenant_id))
    subscription_arn = sns.subscribe_queue(topic_arn=topic_arn, queue_arn=queue.arn())
    try:
        WebhookTopic.objects.create(id=TENANT_TOPIC_ID, topic_arn=topic_arn, state=TOPIC_ACTIVE,
                                    queue_subscription_arn=subscription_arn)
    except AlreadyExists:
        pass
    topics.topic_cache.invalidate(tenant_id, TENANT_TOPIC_ID)
    return topic_arn


# --- endpoints -------------------------------------------------------------------------------------
def create_endpoint(*, url: str, event_types: list[str], description: str = "",
                    idempotency: Claim | None = None) -> tuple[dict, str]:
    """A new enabled endpoint and its secret (returned once; revealable later by admins).
    ``idempotency``: the key's record joins the transaction (``saas.idempotency``)."""
    fields = validate(url=url, event_types=event_types, description=description)
    ensure_tenant_topic()  # SNS first: an endpoint never exists without its topic
    secret = signing.new_secret()
    create, endpoint = WebhookEndpoint.objects.create_op(
        url=fields["url"], event_types=fields["event_types"], description=fields.get("description", ""),
        enabled=True)
    secret_op, _ = WebhookSecret.objects.create_op(id=endpoint["id"], secrets=[{"secret": secret, "expires_at": None}])
    tx = UnitOfWork()
    tx.put("endpoint", create)
    tx.put("secret", secret_op)
    tx.update("quota", limits.reserve_op("webhook_endpoints"))
    idempotency_records.join(tx, idempotency, endpoint)
    tx.join(audit.records(Entry(action="webhook.endpoint_created", target_type="webhook_endpoint",
                                target_id=endpoint["id"],
                                changes={"url": [None, endpoint["url"]], "event_types": [None, endpoint["event_types"]]})))
    try:
        tx.commit()
    except TransactionCancelled as exc:
        if exc.failed("quota"):
            raise limits.exceeded("webhook_endpoints") from exc
        raise
    return endpoint, secret


def update_endpoint(*, endpoint_id: str, **changes) -> dict:
    """Change url / description / event_types / enabled. Enabling clears the failure record."""
    enabled = changes.pop("enabled", None)
    fields = validate(partial=True, **{k: v for k, v in changes.items() if v is not None})
    endpoint = WebhookEndpoint.objects.get(endpoint_id, consistent=True)
    if enabled is not None:
        fields["enabled"] = bool(enabled)
        if enabled:
            fields.update(disabled_reason=None, failing_since=None)
    if not fields:
        return endpoint
    before = {k: endpoint.get(k) for k in fields}
    op, updated = WebhookEndpoint.objects.update_op(endpoint_id, expected_version=endpoint["version"],
                                                    current=endpoint, **fields)
    transact_write([op], join=audit.records(Entry(action="webhook.endpoint_updated", target_type="webhook_endpoint",
                                     target_id=endpoint_id,
                                     changes={k: [before[k], fields[k]] for k in fields if before[k] != fields[k]})))
    return updated


def delete_endpoint(*, endpoint_id: str) -> None:
    endpoint = WebhookEndpoint.objects.get(endpoint_id, consistent=True)
    ops = [WebhookEndpoint.objects.delete_op(endpoint_id, expected_version=endpoint["version"]),
           limits.release_op("webhook_endpoints")]
    try:
        secret = WebhookSecret.objects.get(endpoint_id, consistent=True)
        ops.append(WebhookSecret.objects.delete_op(endpoint_id, expected_version=secret["version"]))
    except DoesNotExist:
        pass
    transact_write(ops, join=audit.records(Entry(action="webhook.endpoint_deleted", target_type="webhook_endpoint",
                                    target_id=endpoint_id, changes={"url": [endpoint["url"], None]})))


def disable_endpoint(endpoint: dict, *, reason: str) -> dict | None:
    """Disable (delivery's decision: 410 Gone, or failing too long). None when it changed meanwhile."""
    try:
        op, updated = WebhookEndpoint.objects.update_op(endpoint["id"], expected_version=endpoint["version"],
                                                        current=endpoint, enabled=False, disabled_reason=reason)
        transact_write([op], join=audit.records(Entry(action="webhook.endpoint_disabled", target_type="webhook_endpoint",
                                         target_id=endpoint["id"], changes={"enabled": [True, False]},
                                         detail={"reason": reason})))
    except (TransactionCancelled, VersionConflict, DoesNotExist):
        return None
    return updated


# --- secrets ---------------------------------------------------------------------------------------
def live_secrets(item: dict, *, now: float | None = None) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during its overlap."""
    now = clock.now() if now is None else now
    return [s["secret"] for s in item.get("secrets", []) if s.get("expires_at") is None or float(s["expires_at"]) > now]


def reveal_secret(*, endpoint_id: str) -> str:
    WebhookEndpoint.objects.get(endpoint_id)  # 404 for another tenant's or a missing endpoint
    secret = live_secrets(WebhookSecret.objects.get(endpoint_id, consistent=True))[0]
    audit.record(Entry(action="webhook.secret_revealed", target_type="webhook_endpoint", target_id=endpoint_id))
    return secret


def rotate_secret(*, endpoint_id: str) -> tuple[str, float]:
    """A new secret signs from now on; the previous one also signs until the returned time."""
    WebhookEndpoint.objects.get(endpoint_id)
    item = WebhookSecret.objects.get(endpoint_id, consistent=True)
    now = clock.now()
    previous_until = now + settings.WEBHOOKS_SECRET_OVERLAP_SECONDS
    current = live_secrets(item, now=now)[0]
    secret = signing.new_secret()
    op, _ = WebhookSecret.objects.update_op(endpoint_id, expected_version=item["version"], current=item,
                                            secrets=[{"secret": secret, "expires_at": None},
                                                     {"secret": current, "expires_at": int(previous_until)}])
    transact_write([op], join=audit.records(Entry(action="webhook.secret_rotated", target_type="webhook_endpoint",
                                     target_id=endpoint_id, detail={"previous_valid_until": int(previous_until)})))
    return secret, previous_until
