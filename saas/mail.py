"""Email: plain-text messages through Amazon SES (``django-ses``), always sent from a job.

``send_later`` renders nothing and sends nothing in the request: it enqueues ``mail.send`` with the
tenant id the message is about, so a slow or failing SES never holds up a page, and SES errors are
retried by the worker. Every message is plain text (one ``text/plain`` part), names its tenant in
the subject and body, and carries no secret but the link it exists for.

``mail.send`` is a platform job (``tenant_scoped=False``) that carries the tenant id as an argument:
some notices are about a tenant that is no longer active (scheduled for deletion), and a tenant job
for such a tenant would be dropped by the worker.

The backend is django-ses's (``saas.mail_backend.SESBackend``, imported by ``send_now`` only, so a
web process does not import django-ses), with its client made by ``saas.aws`` (endpoints from
settings, the shared botocore session): locally the moto server's SES, which (like SES) refuses a
sender that is not a verified identity; the local stack verifies ``DEFAULT_FROM_EMAIL`` when it
starts (devstack).
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection

logger = logging.getLogger("saas.mail")


def __getattr__(name: str):
    if name == "SESBackend":  # its former home (MAIL_BACKEND="saas.mail.SESBackend" still works)
        from saas.mail_backend import SESBackend

        return SESBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def send_later(*, tenant_id: str, to: list[str] | tuple[str, ...], subject: str, body: str) -> bool:
    """Enqueue one plain-text email about ``tenant_id``. False when the broker refused it (logged;
    a lost notice is not worth failing the change that caused it)."""
    from saas.celery import enqueue_after_commit

    recipients = sorted({address for address in to if address})
    if not recipients:
        return False
    return enqueue_after_commit("mail.send", tenant_id, recipients, subject, body)


def send_now(*, tenant_id: str, to: list[str], subject: str, body: str) -> None:
    """What the job does: one message, one text part, sent through the configured backend."""
    # MAIL_BACKEND, not EMAIL_BACKEND: Django's test runner swaps EMAIL_BACKEND for an in-memory
    # outbox, and our tests read what SES (the moto server) really received.
    connection = get_connection(settings.MAIL_BACKEND, fail_silently=False)
    message = EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=to,
                           connection=connection)
    message.send(fail_silently=False)
    logger.info("email sent for tenant %s: %r to %d recipient(s)", tenant_id, subject, len(to))
