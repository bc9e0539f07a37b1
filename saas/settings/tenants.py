"""The tenant lifecycle: silo provisioning, self-service creation, offboarding."""
from __future__ import annotations

from saas.settings.environment import env

# Silo (platinum) tenants are provisioned by a worker (tenants.provision_silo). An attempt holds the
# tenant this long; after it the outbox sweep re-enqueues a tenant still `provisioning` (lost enqueue,
# dead worker). Keep it well above the time a table takes to create. After MAX_ATTEMPTS it is `failed`.
TENANT_PROVISIONING_RETRY_SECONDS = float(env("TENANT_PROVISIONING_RETRY_SECONDS", "120"))
TENANT_PROVISIONING_MAX_ATTEMPTS = int(env("TENANT_PROVISIONING_MAX_ATTEMPTS", "5"))
# A job waits this long for a new silo table, then a follow-up job (POLL seconds later) continues;
# it must fit the worker function's timeout with room to spare (the web stage's 30 s included).
TENANT_PROVISIONING_WAIT_SECONDS = float(env("TENANT_PROVISIONING_WAIT_SECONDS", "10"))
TENANT_PROVISIONING_POLL_SECONDS = float(env("TENANT_PROVISIONING_POLL_SECONDS", "5"))
TENANT_PROVISIONING_MAX_WAITS = int(env("TENANT_PROVISIONING_MAX_WAITS", "60"))
# How many tenants one user may create through self-service, in total: one cap per person, whatever
# tier each request asks for (a per-tier cap let a user at the basic cap keep creating by asking for
# a higher tier). Rejected, failed and deleted tenants give their slot back.
TENANTS_PER_USER = int(env("TENANTS_PER_USER", "3"))
# Offboarding (tenants.offboarding): deletion runs this long after the request (0 allowed: tests);
# the sweep re-enqueues an offboarding whose job has not touched it for OFFBOARDING_STALE_SECONDS.
OFFBOARDING_GRACE_SECONDS = float(env("OFFBOARDING_GRACE_SECONDS", str(7 * 24 * 3600)))
OFFBOARDING_STALE_SECONDS = float(env("OFFBOARDING_STALE_SECONDS", "300"))
