"""Retry-safe creates: the ``Idempotency-Key`` header (written here; no library fits DynamoDB
transactions).

A client that sends ``Idempotency-Key: <key>`` on a create and retries it (after a timeout, a lost
answer, a double click) gets the first request's answer again instead of a second object:

* the key's record is written **in the create's own transaction** (a conditional put), so it
  exists if and only if the object does: there is no half-done state to recover, and of two
  concurrent requests with one key only one transaction commits; the other finds the record and
  replays it;
* the record holds the request's fingerprint (operation + validated body) and the response that was
  sent (status, body, a few headers); a replay returns that response with
  ``Idempotent-Replayed: true``. The same key with a different body (or on another create) is a
  409 ``idempotency_key_reused``, and nothing is written;
* scope: a tenant-scoped record (the tenant's partition, id = hash of user and key) for creates in
  a tenant; a user-scoped platform record (partition = the user) for creates outside any tenant
  (``POST /tenants``). Another tenant or user with the same key value is independent;
* records expire after ``TTL_SECONDS`` (the table's TTL attribute ``expires_at``); an expired one
  that DynamoDB has not deleted yet is ignored and overwritten conditionally;
* failures are not recorded: after a 4xx or 503 the same key may be sent again.

Usage, in a view (the DRF glue stays in the view; this module imports no DRF)::

    key = idempotency.key_from(request.headers)               # None, or 400 naming the header
    outcome = idempotency.run(
        key, operation="products.create", payload=fields,
        create=lambda claim: services.create_product(**fields, idempotency=claim),
        render=lambda product: (201, present(product), {"ETag": product_etag(product)}))
    return Response(outcome.body, status=outcome.status, headers=outcome.headers)

and in the service, one more labelled operation in the create's unit of work::

    idempotency.join(tx, claim, product)   # tx.put("idempotency", ...); nothing when claim is None

``render`` turns what the service created into the response; the service passes the object it is
about to return, and the response is stored before the transaction commits.
"""
from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, TypeVar

from boto3.dynamodb.conditions import Attr
from django.core.serializers.json import DjangoJSONEncoder

from saas.errors import AppError, Conflict, InvalidInput
from saas.tenancy import get_context, system_context
from saas.tenancy.store import DoesNotExist, Op, PlatformModel, TenantModel, TransactionCancelled, UnitOfWork

TTL_SECONDS = 24 * 3600
HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces
KEY_RULE = "Use 1-255 printable ASCII characters, no spaces."
# A create that lost a race (a concurrent transaction, a version guard) is tried again this often:
# by then the winner with the same key has committed and is replayed, or there was none.
ATTEMPTS = 3
TRANSIENT_CODES = frozenset(("conflict", "version_conflict", "concurrent_update"))

T = TypeVar("T")
Render = Callable[[Any], "tuple[int, Mapping[str, Any], Mapping[str, str]]"]


class IdempotentRequest(TenantModel):
    """A key used in a tenant (id = sha256(user, key)); not exported, deleted with the tenant."""
    entity = "IDEMPOTENTREQUEST"


class UserIdempotentRequest(PlatformModel):
    """A key used outside any tenant (partition = the user, id = sha256(key))."""
    entity = "USERIDEMPOTENTREQUEST"


class KeyReused(Conflict):
    code = "idempotency_key_reused"
    default_message = "This Idempotency-Key was already used with a different request."


@dataclass(frozen=True)
class Outcome:
    status: int
    body: Any
    headers: dict[str, str]
    replayed: bool


@dataclass
class Claim:
    """A key no live record holds yet: the service joins it to its unit of work (``join``)."""
    record_id: str
    fingerprint: str
    user_id: str | None  # set: user-scoped (platform record)
    render: Render
    expired: dict | None  # an expired record still stored, overwritten only if still expired
    response: dict | None = field(default=None)


def key_from(headers: Mapping[str, str]) -> str | None:
    """The ``Idempotency-Key`` header, validated (400 naming it), or None when absent."""
    key = headers.get(HEADER)
    if key is None:
        return None
    if not KEY_PATTERN.fullmatch(key):
        raise InvalidInput(fields={HEADER: [KEY_RULE]})
    return key


def fingerprint(operation: str, payload: Any) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def run(key: str | None, *, operation: str, payload: Any, create: Callable[[Claim | None], T], render: Render,
        user_id: str | None = None) -> Outcome:
    """Create once per key. ``user_id``: scope the key to this user outside any tenant (else the
    tenant and user in context). Raises KeyReused (409) for the same key with another request."""
    if key is None:
        status, body, headers = render(create(None))
        return Outcome(status, body, dict(headers), replayed=False)
    if user_id is None:
        user_id_in_tenant = get_context().user_id
        record_id, scope_user = hashlib.sha256(f"{user_id_in_tenant or '-'}\x00{key}".encode()).hexdigest(), None
    else:
        record_id, scope_user = hashlib.sha256(key.encode()).hexdigest(), user_id
    wanted = fingerprint(operation, payload)
    for attempt in range(ATTEMPTS):
        record = _find(record_id, scope_user)
        if record is not None and record["expires_at"] > time.time():
            return _replay(record, wanted)
        claim = Claim(record_id=record_id, fingerprint=wanted, user_id=scope_user, render=render, expired=record)
        try:
            create(claim)
        except (AppError, TransactionCancelled) as exc:
            winner = _find(record_id, scope_user)
            if winner is not None and winner["expires_at"] > time.time():
                return _replay(winner, wanted)  # a concurrent request with this key committed first
            if attempt + 1 < ATTEMPTS and _transient(exc):
                continue
            raise
        if claim.response is None:
            raise RuntimeError(f"{operation}: the service did not write the idempotency record")
        return _outcome(claim.response, replayed=False)
    raise AssertionError("unreachable")


def join(tx: UnitOfWork, claim: Claim | None, created: Any) -> None:
    """Add the key's record to the create's unit of work as ``"idempotency"`` (nothing without a
    key). Call it with the object the service returns: its rendered response is what a replay answers."""
    for record_op in op(claim, created):
        tx.put("idempotency", record_op)


def op(claim: Claim | None, created: Any) -> list[Op]:
    """The record's conditional put for the create's transaction (``[]`` without a key). Call it
    with the object the service returns: its rendered response is what a replay answers."""
    if claim is None:
        return []
    status, body, headers = claim.render(created)
    claim.response = {"status": int(status), "body": json.dumps(body, cls=DjangoJSONEncoder),
                      "headers": {name: str(value) for name, value in headers.items()}}
    fields = {"fingerprint": claim.fingerprint, "expires_at": int(time.time()) + TTL_SECONDS, **claim.response}
    if claim.user_id is not None:
        with system_context(reason="idempotency record of a user"):
            version = claim.expired["version"] if claim.expired else None
            put, _ = UserIdempotentRequest.objects.put_op(claim.user_id, claim.record_id, expected_version=version,
                                                          **fields)
        return [put]
    # New, or replacing an expired record that is still expired (TTL deletion is lazy).
    return [IdempotentRequest.objects.checkpoint_op(claim.record_id, condition=Attr("expires_at").lt(int(time.time())),
                                                    **fields)]


def _find(record_id: str, user_id: str | None) -> dict | None:
    try:
        if user_id is not None:
            with system_context(reason="idempotency record of a user"):
                return UserIdempotentRequest.objects.get(user_id, record_id, consistent=True)
        return IdempotentRequest.objects.get(record_id, consistent=True)
    except DoesNotExist:
        return None


def _replay(record: dict, wanted: str) -> Outcome:
    if record["fingerprint"] != wanted:
        raise KeyReused()
    return _outcome(record, replayed=True)


def _outcome(response: Mapping[str, Any], *, replayed: bool) -> Outcome:
    headers = dict(response.get("headers") or {})
    if replayed:
        headers[REPLAYED_HEADER] = "true"
    return Outcome(int(response["status"]), json.loads(response["body"]), headers, replayed=replayed)


def _transient(exc: Exception) -> bool:
    return isinstance(exc, TransactionCancelled) or (isinstance(exc, Conflict) and exc.code in TRANSIENT_CODES)
