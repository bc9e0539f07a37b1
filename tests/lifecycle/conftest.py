"""Fixtures for the tenant-lifecycle tests (audit trail, files, export, offboarding, usage)."""
from __future__ import annotations

import pytest

import audit


@pytest.fixture(autouse=True)
def _fresh_audit_heads():
    audit.heads.forget()
    yield
    audit.heads.forget()
