"""Re-validation of subscriber hosts (server-side request forgery guard, second line).

A URL is validated when it is subscribed, but the name's addresses can change afterwards (DNS
rebinding). Before every test delivery, and periodically (``webhooks.revalidate``), each active
subscription's URL goes through the same rules again; one that now fails is *suspended*:
unsubscribed at SNS (so nothing more is delivered), marked ``suspended`` with the reason, audit-
logged and reported on the security log. Its owner sees it in the list and can delete it.
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.utils.module_loading import import_string

import audit
from audit import Entry
from saas.tenancy import current_tenant_id
from saas.tenancy.store import DoesNotExist, VersionConflict, now_iso, transact_write

from .. import sns
from ..models import SUSPENDED, WebhookSubscription
from ..url_validation import InvalidSubscriberURL, validate_for_settings
from .topics import sns_unsubscribe

logger = logging.getLogger("webhooks")
security = logging.getLogger("security")


def _resolver():
    """``WEBHOOKS_RESOLVER`` (a dotted path to ``(host, port) -> addresses``), else the system's DNS."""
    path = getattr(settings, "WEBHOOKS_RESOLVER", "")
    return import_string(path) if path else None


def url_problem(url: str) -> str | None:
    try:
        validate_for_settings(url, resolve=_resolver())
    except InvalidSubscriberURL as exc:
        return exc.message
    return None


def check_subscription(subscription: dict) -> dict:
    """The subscription as it is after re-validating its URL (suspended if the URL now fails)."""
    if subscription.get("status") == SUSPENDED:
        return subscription
    problem = url_problem(subscription["url"])
    return subscription if problem is None else suspend(subscription, reason=problem)


def suspend(subscription: dict, *, reason: str) -> dict:
    sns_unsubscribe(subscription)  # first: from now on the host receives nothing
    op, suspended = WebhookSubscription.objects.update_op(
        subscription["id"], expected_version=subscription["version"], current=subscription, status=SUSPENDED,
        suspended_reason=reason[:500], suspended_at=now_iso())
    try:
        transact_write([op], join=audit.records(Entry(action="webhook.suspended", target_type="webhook_subscription",
                                         target_id=subscription["id"], detail={"url": subscription["url"],
                                                                               "reason": reason[:500]},
                                         changes={"status": [subscription.get("status"), SUSPENDED]})))
    except Exception:
        try:  # changed meanwhile: record the suspension on what is there now
            current = WebhookSubscription.objects.get(subscription["id"], consistent=True)
        except DoesNotExist:
            return {**subscription, "status": SUSPENDED}
        if current.get("status") == SUSPENDED:
            return current
        raise
    security.warning("webhook subscription suspended: tenant=%s subscription=%s url=%s reason=%s",
                     current_tenant_id(), subscription["id"], subscription["url"], reason)
    return suspended


def revalidate_subscriptions(*, max_subscriptions: int = 1000) -> int:
    """Re-check every subscription of the tenant in context; returns how many were suspended."""
    suspended, cursor, seen = 0, None, 0
    while seen < max_subscriptions:
        page = WebhookSubscription.objects.query(cursor=cursor, limit=100)
        for subscription in page.items:
            if subscription.get("status") == SUSPENDED:
                continue
            try:
                if check_subscription(subscription).get("status") == SUSPENDED:
                    suspended += 1
            except (sns.SNSUnavailable, VersionConflict):
                logger.warning("re-validation of %s deferred", subscription["id"], exc_info=True)
        seen += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    return suspended
