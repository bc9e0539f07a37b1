"""Server-side web sessions in DynamoDB (``SESSION_ENGINE = "websessions.backend"``).

A session is a platform item (``WEBSESSION#<key>``) whose ``expires_at`` is the table's TTL
attribute; the cookie holds only the random key. So signing out deletes the one record that every
copy of the cookie points to, and a replayed cookie finds nothing. Each signed-in session is also
listed under its user (``USERSESSION#<sub>``, one row per key) so "sign out of all sessions" is a
Query in that partition plus deletes; nothing is ever scanned.

Writes: creating a key is conditional (a collision is retried); saving an existing session never
re-creates one that was deleted meanwhile (a request that raced a sign-out gets Django's
``SessionInterrupted`` instead of resurrecting it). TTL deletion is lazy, so ``expires_at`` is also
checked on every read.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from django.contrib.sessions.backends.base import CreateError, SessionBase, UpdateError

from saas.tenancy import system_context
from saas.tenancy.store import AlreadyExists, DoesNotExist, PlatformModel

logger = logging.getLogger("saas.sessions")  # the name log queries know

# The session key under which the signed-in user's id is kept (tenants.resolution reads it too).
USER_KEY = "identity_sub"
SESSION_ITEM = "session"


class WebSession(PlatformModel):
    entity = "WEBSESSION"  # PK WEBSESSION#<session key>, SK "session"


class UserWebSession(PlatformModel):
    entity = "USERSESSION"  # PK USERSESSION#<sub>, SK <session key>: the user's sessions


def _scope():
    return system_context(reason="web session")


class SessionStore(SessionBase):
    def __init__(self, session_key=None):
        super().__init__(session_key)
        self._user_id: str | None = None

    # --- reads ---------------------------------------------------------------------------------
    def _get(self, session_key: str | None) -> dict | None:
        if not session_key or "#" in session_key:
            return None
        try:
            with _scope():
                item = WebSession.objects.get(session_key, SESSION_ITEM, consistent=True)
        except DoesNotExist:
            return None
        if item.get("expires_at", 0) <= time.time():
            return None
        return item

    def load(self) -> dict:
        item = self._get(self._session_key)
        if item is None:
            self._session_key = None
            return {}
        data = self.decode(item.get("data", ""))
        self._user_id = data.get(USER_KEY)
        return data

    def exists(self, session_key: str) -> bool:
        return self._get(session_key) is not None

    # --- writes --------------------------------------------------------------------------------
    def create(self) -> None:
        for _ in range(10):
            self._session_key = self._get_new_session_key()  # type: ignore[attr-defined]  # SessionBase's, not in the stubs
            try:
                self.save(must_create=True)
            except CreateError:
                continue
            self.modified = True
            return
        raise RuntimeError("could not create a unique session key")

    def save(self, must_create: bool = False) -> None:
        key = self._session_key
        if key is None:
            return self.create()
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]  # SessionBase's, not in the stubs
        expires_at = int(time.time()) + self.get_expiry_age()
        user_id = data.get(USER_KEY)
        fields: dict[str, Any] = {"data": self.encode(data), "expires_at": expires_at}
        if user_id:
            fields["user_id"] = user_id
        with _scope():
            if must_create:
                try:
                    WebSession.objects.put(key, SESSION_ITEM, **fields)
                except AlreadyExists as exc:
                    raise CreateError from exc
            else:
                try:
                    WebSession.objects.put(key, SESSION_ITEM, must_exist=True, **fields)
                except DoesNotExist as exc:
                    raise UpdateError from exc
            if user_id:
                # The user's list of sessions (rewritten with the new expiry; only its own key).
                UserWebSession.objects.replace(user_id, key, expires_at=expires_at)
        self._user_id = user_id

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self._session_key
        if not key or "#" in key:
            return
        user_id = self._user_id if session_key in (None, self._session_key) else None
        with _scope():
            WebSession.objects.delete(key, SESSION_ITEM)
            if user_id:
                UserWebSession.objects.delete(user_id, key)

    @classmethod
    def clear_expired(cls) -> None:
        """DynamoDB's TTL removes expired sessions; nothing to do."""


def end_user_sessions(user_id: str, *, keep: str | None = None) -> int:
    """Delete every session of ``user_id`` (except the key ``keep``). Returns how many ended."""
    ended = 0
    with _scope():
        cursor = None
        while True:
            page = UserWebSession.objects.query(user_id, cursor=cursor, limit=100)
            for row in page.items:
                if row["id"] == keep:
                    continue
                WebSession.objects.delete(row["id"], SESSION_ITEM)
                UserWebSession.objects.delete(user_id, row["id"])
                ended += 1
            cursor = page.next_cursor
            if not cursor:
                break
    logger.info("ended %d web session(s) of %s", ended, user_id)
    return ended
