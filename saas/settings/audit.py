"""The audit trail: retention, checkpoints, the chain key, the digests."""
from __future__ import annotations

from saas.settings.deployment import CONFIG_SECRET_PREFIX
from saas.settings.environment import env
from saas.settings.storage import DYNAMODB_TABLE

# Audit records expire (DynamoDB TTL) after this many days, by tier; "platform" is the platform trail.
AUDIT_RETENTION_DAYS = {
    "basic": int(env("AUDIT_RETENTION_DAYS_BASIC", "90")),
    "standard": int(env("AUDIT_RETENTION_DAYS_STANDARD", "365")),
    "premium": int(env("AUDIT_RETENTION_DAYS_PREMIUM", "730")),
    "platinum": int(env("AUDIT_RETENTION_DAYS_PLATINUM", "2555")),
    "platform": int(env("AUDIT_RETENTION_DAYS_PLATFORM", "2555")),
}
# A tenant trail's head is checkpointed every this many records: verify_audit_chain detects a
# truncation only back past the last checkpoint. 1 (the default) = every record, so deleting even the
# newest record is detected, at the cost of one more item per change.
AUDIT_CHECKPOINT_EVERY = int(env("AUDIT_CHECKPOINT_EVERY", "1"))
# The chain key (HMAC of every record and head) is this Secrets Manager secret, read at run time by
# the functions (never an environment value: whoever reads the function's configuration must not get
# it). `manage.py ensure_tables` creates it on local stacks; in AWS it is infrastructure.
AUDIT_CHAIN_KEY_SECRET = env("AUDIT_CHAIN_KEY_SECRET", f"{CONFIG_SECRET_PREFIX}audit-chain-key")
# Digests (audit.write_digest): every trail's tip, written to the files bucket under this prefix
# every AUDIT_DIGEST_SECONDS (hourly, like CloudTrail's digest files). The functions may only add
# objects there (deploy/iam: PutObject + GetObject, no DeleteObject; the bucket policy requires
# If-None-Match) - see docs/ARCHITECTURE.md.
# One digest chain per pooled table (its trails): stages, or a local stack and a packaged stage,
# that share a bucket never read each other's digests.
AUDIT_DIGEST_PREFIX = env("AUDIT_DIGEST_PREFIX", f"audit-digests/{DYNAMODB_TABLE}/")
AUDIT_DIGEST_SECONDS = float(env("AUDIT_DIGEST_SECONDS", "3600"))
