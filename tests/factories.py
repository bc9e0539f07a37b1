"""What tests build and the small helpers they share (the fixtures that use them are in
tests/conftest.py): unique names, a hand-moved clock, a signed-in user with her API client, a tenant
with its admin, and the invitation flow through the API."""
from __future__ import annotations

import uuid
from dataclasses import dataclass


def unique(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


class Clock:
    """A clock a test moves by hand, for code that takes ``clock=`` (caches, breakers, schedules)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class User:
    sub: str
    email: str
    password: str
    id_token: str
    access_token: str

    def client(self, token: str | None = None):
        from rest_framework.test import APIClient

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token or self.id_token}")
        return client


@dataclass
class TenantFixture:
    id: str
    admin: User

    def add(self, make_user, role: str) -> User:
        from saas.tenancy import system_context
        from saas.tenancy.store import transact_write
        from tenants.services import membership_ops

        user = make_user()
        with system_context(reason="test fixture: add member"):
            transact_write(membership_ops(tenant_id=self.id, user_id=user.sub, email=user.email, role=role))
        return user


def invite_and_accept(admin: User, person: User, role: str):
    """The invitation flow through the API: the admin invites ``person``'s email, ``person`` accepts.
    Returns the accept response."""
    invited = admin.client().post("/api/v1/tenants/current/members", {"email": person.email, "role": role},
                                  format="json")
    assert invited.status_code == 202, invited.content
    mine = person.client().get("/api/v1/me/invitations").json()["results"]
    invitation = next(i for i in mine if i["id"].endswith(invited.json()["id"]))
    return person.client().post(f"/api/v1/me/invitations/{invitation['id']}/accept")
