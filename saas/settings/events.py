"""Events: the outbox relay's retries and retention, and webhooks (SNS topics, endpoint delivery)."""
from __future__ import annotations

from saas.settings.base import LOCAL_STACK
from saas.settings.environment import env, env_bool

# Outbox retry back-off: base * 2^(attempt-1), capped; events are never given up on.
OUTBOX_RETRY_BASE_SECONDS = float(env("OUTBOX_RETRY_BASE_SECONDS", "30"))
OUTBOX_RETRY_MAX_SECONDS = float(env("OUTBOX_RETRY_MAX_SECONDS", "900"))
# Sent outbox events are kept this long (for inspection and redelivery questions), then expire by TTL.
OUTBOX_SENT_RETENTION_SECONDS = int(env("OUTBOX_SENT_RETENTION_SECONDS", str(7 * 24 * 3600)))

# Locally, subscribers are test receivers on 127.0.0.1 over http; never allowed outside local stacks.
WEBHOOKS_ALLOW_INSECURE_LOCAL = env_bool("WEBHOOKS_ALLOW_INSECURE_LOCAL", LOCAL_STACK)
# ``(host, port) -> addresses`` used to validate subscriber hosts; empty = the system resolver.
WEBHOOKS_RESOLVER = env("WEBHOOKS_RESOLVER", "")
WEBHOOKS_TOPIC_PREFIX = env("WEBHOOKS_TOPIC_PREFIX", "saas-local")
# How long another process may keep using a (tenant, event type) -> topic lookup, found or not.
WEBHOOKS_TOPIC_CACHE_SECONDS = float(env("WEBHOOKS_TOPIC_CACHE_SECONDS", "5"))
# A topic stuck in "deleting" this long (its deleter died) may be finished off by a new subscriber.
WEBHOOKS_TOPIC_DELETE_STALE_SECONDS = float(env("WEBHOOKS_TOPIC_DELETE_STALE_SECONDS", "60"))
# Endpoint delivery: one SNS topic per tenant -> this SQS queue (raw delivery) -> the worker POSTs
# each event to the tenant's endpoints (webhooks.services.delivery). Named like the jobs queue.
# Empty: ``<SQS_QUEUE_PREFIX>-webhooks`` (saas.queues.webhooks_queue_name).
WEBHOOKS_DELIVERY_QUEUE = env("WEBHOOKS_DELIVERY_QUEUE", "")
WEBHOOKS_DELIVERY_TIMEOUT_SECONDS = float(env("WEBHOOKS_DELIVERY_TIMEOUT_SECONDS", "15"))
# Messages, deliveries and attempts expire (DynamoDB TTL) after this; recover-since reaches this far.
WEBHOOKS_LOG_RETENTION_SECONDS = int(env("WEBHOOKS_LOG_RETENTION_SECONDS", str(30 * 86400)))
# After a rotation the previous secret still signs (a second signature) this long.
WEBHOOKS_SECRET_OVERLAP_SECONDS = int(env("WEBHOOKS_SECRET_OVERLAP_SECONDS", str(24 * 3600)))
# An endpoint failing this long without one success is disabled and its admins told.
WEBHOOKS_DISABLE_AFTER_SECONDS = int(env("WEBHOOKS_DISABLE_AFTER_SECONDS", str(5 * 86400)))
# Optional forward proxy for deliveries in production (e.g. Smokescreen, which then enforces the
# address rules itself); empty = connect directly to the checked address.
WEBHOOKS_EGRESS_PROXY = env("WEBHOOKS_EGRESS_PROXY", "")
