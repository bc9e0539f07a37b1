"""Services speak to the store in labelled units of work: no service reads a cancellation by
position or builds (or patches) a DynamoDB wire dict itself. A grep over the service code, so a
reordered line can never silently change which failure a service reports."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PACKAGES = ("saas", "audit", "files", "usage", "exports", "websessions", "tenants", "products", "orders", "webhooks")
STORE = ROOT / "saas" / "tenancy" / "store"  # the one place that speaks the wire format

POSITIONAL_REASON = re.compile(r"\.reasons\s*\[\s*-?\s*\d*\s*:?\s*-?\d*\s*\]")  # reasons[2], [-1], [1:2], [:n]
REASONS_BY_POSITION = re.compile(r"(zip|enumerate)\([^)]*\.reasons\b")
WIRE_KEY = re.compile(r"""["'](Put|Update|Delete|ConditionCheck)["']\s*[\]:]""")


def service_files():
    for package in SERVICE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")) if (ROOT / package).is_dir() else ():
            if STORE not in path.parents and "migrations" not in path.parts:
                yield path


def offending_lines(pattern: re.Pattern) -> list[str]:
    found = []
    for path in service_files():
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    return found


def test_the_grep_sees_the_service_code():
    names = {str(path.relative_to(ROOT)) for path in service_files()}
    assert {"orders/services.py", "products/services.py", "tenants/offboarding.py", "exports/services.py",
            "usage/services.py"} <= names
    assert not any(name.startswith("saas/tenancy/store/") for name in names)


@pytest.mark.parametrize("line, caught", [
    ("if exc.reasons[2] == CONDITION_FAILED:", True),
    ("if exc.reasons[-1] == 'ConditionalCheckFailed'", True),
    ("if exc.reasons[1:2] == ['ConditionalCheckFailed']:", True),
    ("own = exc.reasons[:len(operations)]", False),  # caught by the pattern below instead
    ('if exc.failed("stock:sku-1"):', False),
    ('reason = exc.reasons["order"]', False),
])
def test_the_patterns_catch_positional_reasons_and_spare_labels(line, caught):
    assert bool(POSITIONAL_REASON.search(line)) is caught


def test_no_service_reads_a_cancellation_by_position():
    assert offending_lines(POSITIONAL_REASON) == []
    assert offending_lines(REASONS_BY_POSITION) == []
    assert offending_lines(re.compile(r"\.reasons\s*\[\s*:")) == []


def test_no_service_builds_or_patches_a_wire_dict():
    assert WIRE_KEY.search('op["Put"]["TableName"] = table') and WIRE_KEY.search('{"Delete": {"Key": key}}')
    assert offending_lines(WIRE_KEY) == []
