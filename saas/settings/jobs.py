"""Jobs: Celery on Redis (locally) or SQS (AWS), the Lambda worker, beat, fair shares, broker probes."""
from __future__ import annotations

from typing import Any

from saas.settings.aws import AWS_ENDPOINT_URLS, AWS_REGION
from saas.settings.base import LOCAL_STACK
from saas.settings.environment import env

CELERY_BROKER_URL = env("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0" if LOCAL_STACK else "")  # saas.E005
# SQS (the broker in AWS; the moto server locally): the job queue and its dead-letter queue are
# declared in saas/queues.py and created by `manage.py ensure_queues`. The worker is a Lambda
# function (saas.worker.handle_sqs) fed by an SQS event source; its timeout sets the visibility.
SQS_QUEUE_PREFIX = env("SQS_QUEUE_PREFIX", "saas-local")
SQS_JOBS_QUEUE_URL = env("SQS_JOBS_QUEUE_URL")  # https://sqs.<region>.amazonaws.com/<account>/<prefix>-jobs
WORKER_TIMEOUT_SECONDS = int(env("WORKER_TIMEOUT_SECONDS", "120"))  # the worker stage's timeout_seconds
SQS_VISIBILITY_TIMEOUT = int(env("SQS_VISIBILITY_TIMEOUT", str(6 * WORKER_TIMEOUT_SECONDS)))
SQS_MAX_RECEIVE_COUNT = int(env("SQS_MAX_RECEIVE_COUNT", "5"))  # then the dead-letter queue
# A worker invocation starts no new record with less than this left (they go back to the queue).
WORKER_STOP_MARGIN_SECONDS = float(env("WORKER_STOP_MARGIN_SECONDS", "15"))
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = float(env("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
# The longest a job may legitimately run (silo provisioning waits for a table; fulfilment is short).
# A Redis message unacknowledged for longer (its worker died) is redelivered after the visibility
# timeout, so it is sized to the longest job plus a margin, and workers look for such messages every
# few seconds. Orders do not wait for that: the sweep recovers an orphaned order within ~30 s.
CELERY_LONGEST_JOB_SECONDS = int(env("CELERY_LONGEST_JOB_SECONDS", "120"))
# Every broker operation has a socket timeout: a frozen Redis cannot hold a request (or a publish).
BROKER_SOCKET_TIMEOUT_SECONDS = float(env("BROKER_SOCKET_TIMEOUT_SECONDS", "0.3"))
# SQS: one SendMessage waits at most this long for its answer (normally tens of ms), one attempt per
# Celery publish try (AFTER_COMMIT_PUBLISH allows two); after a failure the request's later publishes
# are skipped (saas.celery.broker), so a frozen SQS costs a request ~2 x this, not 9 x 5 s.
BROKER_PUBLISH_TIMEOUT_SECONDS = float(env("BROKER_PUBLISH_TIMEOUT_SECONDS", "1.5"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(env("CELERY_VISIBILITY_TIMEOUT", str(CELERY_LONGEST_JOB_SECONDS + 30))),
    "unacked_restore_interval": 5, "unacked_restore_throttle": 1,
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
}
if CELERY_BROKER_URL.startswith("sqs://"):
    from saas.queues import sqs_broker_settings  # (endpoint, queue URL, timeouts)

    CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = sqs_broker_settings(
        endpoint_url=AWS_ENDPOINT_URLS["sqs"], region=AWS_REGION, jobs_queue_url=SQS_JOBS_QUEUE_URL,
        connect_timeout=CELERY_BROKER_CONNECTION_TIMEOUT, read_timeout=BROKER_PUBLISH_TIMEOUT_SECONDS)
    # Celery prefers the CELERY_BROKER_URL environment variable ("sqs://", no endpoint) to
    # broker_url; the read/write URLs win over both.
    CELERY_BROKER_READ_URL = CELERY_BROKER_WRITE_URL = CELERY_BROKER_URL
CELERY_TASK_ALWAYS_EAGER = False
# The outbox relay's safety net: publishes pending events and re-enqueues stuck orders (orders.tasks).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "outbox-sweep": {"task": "outbox.sweep", "schedule": float(env("OUTBOX_SWEEP_SECONDS", "10"))},
    # Locally the delivery queue is read by this job; in AWS by the worker's SQS event source.
    **({"webhooks-consume": {"task": "webhooks.consume", "schedule": float(env("WEBHOOKS_CONSUME_SECONDS", "2")),
                             "kwargs": {"seconds": 1.5}}} if LOCAL_STACK else {}),
    # Subscriber hosts are re-validated (DNS may have changed); failing ones are suspended.
    "webhooks-revalidate": {"task": "webhooks.revalidate",
                            "schedule": float(env("WEBHOOKS_REVALIDATE_SECONDS", "900"))},
    "offboarding-sweep": {"task": "offboarding.sweep", "schedule": float(env("OFFBOARDING_SWEEP_SECONDS", "60"))},
    # Exports whose job was lost (enqueue lost after the commit, worker killed) are re-enqueued.
    "exports-sweep": {"task": "exports.sweep", "schedule": float(env("EXPORT_SWEEP_SECONDS", "60"))},
    # The audit trails' anchor outside DynamoDB (audit.write_digest).
    "audit-digest": {"task": "audit.digest", "schedule": float(env("AUDIT_DIGEST_SECONDS", "3600"))},
}
# A fair share of the workers per tenant (saas.fairness): on the Redis broker at most this many bulk
# jobs (exports) of one tenant run at once, across workers; one that finds them all running is
# published again BULK_DEFER_SECONDS later (doubling up to BULK_DEFER_MAX_SECONDS). A slot held by a
# killed worker expires after BULK_SLOT_SECONDS. On SQS the jobs queue is a fair queue instead.
CELERY_TASK_ROUTES = ("saas.fairness.route",)  # bulk jobs (exports) at the lowest priority
BULK_JOBS_PER_TENANT = int(env("BULK_JOBS_PER_TENANT", "1"))
BULK_SLOT_SECONDS = int(env("BULK_SLOT_SECONDS", str(CELERY_LONGEST_JOB_SECONDS + 30)))
BULK_DEFER_SECONDS = float(env("BULK_DEFER_SECONDS", "0.5"))
BULK_DEFER_MAX_SECONDS = float(env("BULK_DEFER_MAX_SECONDS", "2"))
# Writes that need a job (POST /orders) probe the broker first: 503 and nothing written when it is down.
BROKER_CHECK_TIMEOUT_SECONDS = float(env("BROKER_CHECK_TIMEOUT_SECONDS", "0.5"))
BROKER_CHECK_CACHE_SECONDS = float(env("BROKER_CHECK_CACHE_SECONDS", "1.5"))
# How long a worker trusts a tenant's status before re-reading it (saas.tenancy.jobs).
TENANT_JOB_CACHE_SECONDS = float(env("TENANT_JOB_CACHE_SECONDS", "5"))
