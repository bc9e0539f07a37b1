"""Celery jobs: the order pipeline (``orders.confirm`` -> ``orders.fulfil``).

Tenant jobs get their context from the message headers (``saas.tenancy.jobs.TenantTask``): they
are enqueued inside a tenant context and run inside the same one. The outbox relay and the sweep
are the core's jobs (``saas.tasks``); the sweep calls ``services.recover_stuck_orders`` for every
active tenant (registered in ``OrdersConfig.ready``).

Every job is idempotent (conditional transitions), as ``acks_late`` redelivers a job whose worker died.
"""
from __future__ import annotations

import logging

from celery import shared_task

from saas.celery import enqueue_after_commit, get_app
from saas.tenancy.store import StoreUnavailable

from . import services
from .models import CONFIRMED

get_app()  # the shared tasks below resolve through the current app: the project's (created on first use)

logger = logging.getLogger("orders.tasks")

__all__ = ["confirm_order", "fulfil_order"]

RETRY = {"autoretry_for": (StoreUnavailable,), "retry_backoff": 2, "retry_backoff_max": 60, "max_retries": 8}


@shared_task(name="orders.confirm", **RETRY)
def confirm_order(order_id: str) -> None:
    order = services.confirm_order(order_id=order_id)
    if order is not None and order["status"] == CONFIRMED:
        # Also when it was already confirmed: a rerun after a crash before this enqueue recovers it.
        # A broker error here leaves the order ``confirmed`` for the sweep; the job itself succeeded.
        enqueue_after_commit(fulfil_order, order_id)


@shared_task(name="orders.fulfil", **RETRY)
def fulfil_order(order_id: str) -> None:
    services.fulfil_order(order_id=order_id)
