"""What someone typed into a form when their session had ended: kept server-side for one return.

A POST from a signed-out browser (the session expired while the form was open) is not applied; its
fields are kept here instead, under a random one-time token that only that browser holds (an
HttpOnly cookie), and the person is sent to sign in and back to the form's page. There the fields are
given back once (the item is deleted as it is read) and ``websessions/static/saas/kept-form.js`` puts them
into the page's form to check and submit again. Never kept: the CSRF token and any field whose
name says password, secret, token or key. A platform item ``KEPTFORM#<sha256 of the token>`` with
``expires_at`` (the table's TTL; also checked on read), written by us, not a library: Django keeps
form data only in a session, and here the session is what ended.
"""
from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from urllib.parse import urlsplit

from saas.tenancy import system_context
from saas.tenancy.store import DoesNotExist, PlatformModel

COOKIE = "kept_form"
LIFETIME_SECONDS = 30 * 60
MAX_FIELDS = 200
MAX_BYTES = 64 * 1024
ITEM = "form"
SECRET_FIELD = re.compile(r"pass|secret|token|csrf|key|otp|cvc", re.IGNORECASE)


class KeptForm(PlatformModel):
    entity = "KEPTFORM"  # PK KEPTFORM#<sha256(token)>, SK "form": path, fields (JSON), expires_at


def _id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def keep(post, back_to: str) -> str | None:
    """Keep the POSTed fields for the page ``back_to``; the token for the browser's cookie, or None
    when there is nothing to keep (or too much: more than MAX_FIELDS fields or MAX_BYTES)."""
    fields = [[name, value] for name, values in post.lists() if not SECRET_FIELD.search(name) for value in values]
    encoded = json.dumps(fields)
    if not fields or len(fields) > MAX_FIELDS or len(encoded.encode()) > MAX_BYTES:
        return None
    token = secrets.token_urlsafe(32)
    with system_context(reason="web: keep a signed-out person's form"):
        KeptForm.objects.put(_id(token), ITEM, path=urlsplit(back_to).path, fields=encoded,
                             expires_at=int(time.time()) + LIFETIME_SECONDS)
    return token


def take(token: str, path: str) -> list[list[str]] | None:
    """The fields kept under ``token`` if they belong to the page at ``path``; gone afterwards either way."""
    if not token or len(token) > 100:
        return None
    with system_context(reason="web: give back a kept form"):
        try:
            item = KeptForm.objects.get(_id(token), ITEM, consistent=True)
        except DoesNotExist:
            return None
        KeptForm.objects.delete(_id(token), ITEM)
    if item.get("expires_at", 0) <= time.time() or item.get("path") != path:
        return None
    return json.loads(item["fields"])
