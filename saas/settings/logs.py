"""Logging: JSON lines in AWS, a readable line locally (saas.logs)."""
from __future__ import annotations

from saas import logs
from saas.settings.base import LOCAL_STACK
from saas.settings.environment import env

# JSON lines with tenant_id, user_id and request_id (saas.logs); the local stack keeps a readable line
# unless LOG_FORMAT=json. The audit logger (system_context, security events) keeps its own level.
LOGGING = logs.logging_config(json_lines=env("LOG_FORMAT", "plain" if LOCAL_STACK else "json") == "json",
                              level=env("LOG_LEVEL", "INFO"), audit_level=env("AUDIT_LOG_LEVEL", "INFO"))
