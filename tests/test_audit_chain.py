"""The audit trail's hash chain, checked record by record without a server: a trail as the store
holds it (records oldest first) is walked by the check ``verify_chain`` applies to each record. What an
auditor sees: an intact trail verifies; a record whose content was changed breaks the chain at that
record; a record removed from the middle, moved to another position, or re-hashed by someone without
the chain key is reported there; records older than the retention period may be gone.

The chain key is a secret read from Secrets Manager in a deployment; here it is a fixed key (the
integration tests in tests/lifecycle/test_audit_trail.py read the real one from the local stack)."""
from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import pytest

import audit
from audit import GENESIS, Verification, head_mac, record_hash
from audit.verification import _check_record

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

KEY = b"k" * 32
NOW = 1_800_000_000.0
TRAIL = "acme-shop"


@pytest.fixture(autouse=True)
def _chain_key(monkeypatch):
    monkeypatch.setattr(audit.chain, "chain_key", lambda: KEY)


def chained(count: int, *, first_seq: int = 1, prev_expires_at: int | None = None) -> list[dict]:
    """A trail of ``count`` records as ``commit`` writes them (the fields ``_build_ops`` sets)."""
    records, prev_hash = [], GENESIS
    for seq in range(first_seq, first_seq + count):
        body = {"seq": seq, "prev_hash": prev_hash, "at": f"2027-01-15T10:00:{seq:02d}.000Z", "trail": TRAIL,
                "tenant_id": TRAIL, "actor_type": "user", "actor_id": "sub-ann", "actor_email": "ann@example.test",
                "action": "product.updated", "target_type": "product", "target_id": f"p{seq}",
                "changes": {"price": [Decimal("9.99"), Decimal("12.50")], "stock": [3, 2]},
                "request_id": f"req-{seq}", "source_ip": "203.0.113.7", "expires_at": int(NOW) + 86400}
        if seq == first_seq and prev_expires_at is not None:
            body["prev_expires_at"] = prev_expires_at
            body["prev_hash"] = "f" * 64  # the expired predecessor's hash
        body["hash"] = record_hash(body)
        records.append({"id": f"{seq:012d}", "version": 1, **body})
        prev_hash = body["hash"]
    return records


def walk(records: list[dict], *, now: float = NOW) -> Verification:
    """``verify_chain``'s walk over the stored records, oldest first."""
    result, previous = Verification(trail=TRAIL), None
    for item in records:
        _check_record(item, previous, result, now)
        previous = item
    return result


def test_an_intact_trail_verifies():
    result = walk(chained(5))
    assert result.ok, result.problems
    assert (result.records, result.first_seq, result.last_seq) == (5, 1, 5)


@pytest.mark.parametrize("field, value", [
    ("actor_email", "mallory@example.test"),  # who did it
    ("action", "product.viewed"),  # what was done
    ("target_id", "p-other"),  # to which object
    ("changes", {"price": [Decimal("9.99"), Decimal("1.00")], "stock": [3, 2]}),  # what changed
    ("at", "2027-01-14T10:00:03.000Z"),  # when
    ("source_ip", "198.51.100.9"),  # from where
    ("expires_at", int(NOW) + 10 * 86400),  # how long it is kept
])
def test_a_changed_record_breaks_the_chain_at_that_record(field, value):
    records = chained(5)
    records[2][field] = value
    assert walk(records).problems == ["record seq 3: content does not match its hash (edited)"]


def test_a_changed_record_rehashed_without_the_key_is_caught_there_and_at_the_next_link():
    records = chained(5)
    records[2]["actor_email"] = "mallory@example.test"
    canonical = audit.canonical_content(records[2])
    records[2]["hash"] = hmac.new(b"guessed-key" * 3, canonical.encode(), hashlib.sha256).hexdigest()
    assert walk(records).problems == ["record seq 3: content does not match its hash (edited)",
                                      "record seq 4: does not link to record seq 3"]


def test_a_record_removed_from_the_middle_is_reported_where_it_was():
    records = chained(5)
    del records[2]
    assert walk(records).problems == ["records 3..3 are missing (deleted)", "record seq 4: does not link to record seq 2"]


def test_a_record_moved_to_another_position_is_reported():
    records = chained(3)
    records[1]["id"] = "000000000009"
    assert walk(records).problems == ["record 000000000009: stored under another position than its seq 2"]


def test_a_trail_must_start_at_the_genesis_link():
    records = chained(2)
    records[0]["prev_hash"] = "1" * 64
    records[0]["hash"] = record_hash(records[0])
    records[1]["prev_hash"] = records[0]["hash"]
    records[1]["hash"] = record_hash(records[1])
    assert walk(records).problems == ["record seq 1: does not start the chain"]


def test_records_before_the_first_may_be_gone_only_once_they_expired():
    expired = chained(3, first_seq=7, prev_expires_at=int(NOW) - 1)
    assert walk(expired).ok
    still_kept = chained(3, first_seq=7, prev_expires_at=int(NOW) + 3600)
    assert walk(still_kept).problems == ["records before seq 7 are missing and had not expired (deleted)"]
    assert walk(chained(3, first_seq=7)).problems == ["records before seq 7 are missing and had not expired (deleted)"]


def test_the_hash_survives_dynamodbs_number_round_trip_and_key_order():
    """DynamoDB hands numbers back as Decimals without trailing zeros, and maps in any key order;
    neither may make an untouched record look edited."""
    record = chained(1)[0]
    stored = {**record, "changes": {"stock": [Decimal(3), Decimal(2)], "price": [Decimal("9.99"), Decimal("12.5")]},
              "seq": Decimal(1), "expires_at": Decimal(record["expires_at"])}
    assert record_hash(stored) == record["hash"]
    assert record_hash({**record, "PK": "TENANT#acme-shop#AUDIT", "version": 7}) == record["hash"]  # bookkeeping


def test_without_the_key_nobody_makes_a_record_that_verifies(monkeypatch):
    record = chained(1)[0]
    monkeypatch.setattr(audit.chain, "chain_key", lambda: b"another-deployment-key-000000000")
    assert record_hash(record) != record["hash"]


def test_a_head_moved_to_another_record_or_trail_does_not_verify():
    mac = head_mac(TRAIL, 5, "a" * 64)
    assert hmac.compare_digest(mac, head_mac(TRAIL, 5, "a" * 64))
    assert mac != head_mac(TRAIL, 4, "a" * 64)  # moved back onto an older record
    assert mac != head_mac(TRAIL, 5, "b" * 64)  # pointed at another record's hash
    assert mac != head_mac("rival-shop", 5, "a" * 64)  # copied from another trail


def test_secrets_never_reach_the_trail():
    scrubbed = audit.scrub({"name": "Shop", "password": "hunter2", "api_key": "k-1", "nested": {"client_secret": "s"},
                            "url": "https://user:pw@hooks.example.test:8443/in?token=abc#frag"})
    assert scrubbed == {"name": "Shop", "password": "[redacted]", "api_key": "[redacted]",
                        "nested": {"client_secret": "[redacted]"},
                        "url": "https://hooks.example.test:8443/in?[redacted]"}


def test_a_change_records_only_the_fields_that_changed():
    before = {"name": "Mug", "price": Decimal("9.99"), "stock": 3}
    after = {"name": "Mug", "price": Decimal("12.50"), "stock": 3}
    assert audit.diff(before, after) == {"price": [Decimal("9.99"), Decimal("12.50")]}
    assert audit.diff(before, after, fields=("stock",)) == {}
