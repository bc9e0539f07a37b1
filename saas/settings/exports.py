"""Tenant data exports: link lifetime, spooling, heartbeats, the sweep."""
from __future__ import annotations

from saas.settings.environment import env

# Exports (the exports app): download links live 15 minutes; archives spool to /tmp beyond this size.
EXPORT_LINK_SECONDS = int(env("EXPORT_LINK_SECONDS", "900"))
EXPORT_SPOOL_BYTES = int(env("EXPORT_SPOOL_BYTES", str(32 * 1024 * 1024)))
# A running export writes its progress after every entity and every EXPORT_HEARTBEAT_PAGES pages (100
# items each); an open export untouched for EXPORT_STALE_SECONDS is re-enqueued by the exports sweep
# (its job was lost or its worker killed), at most EXPORT_MAX_ATTEMPTS runs, then it is failed.
EXPORT_HEARTBEAT_PAGES = int(env("EXPORT_HEARTBEAT_PAGES", "20"))
EXPORT_STALE_SECONDS = float(env("EXPORT_STALE_SECONDS", "300"))
EXPORT_MAX_ATTEMPTS = int(env("EXPORT_MAX_ATTEMPTS", "3"))
