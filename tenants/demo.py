"""Local demo data from one file (tenants/demo_users.json): Cognito users, the same people at the
local OIDC provider, demo tenants with memberships, and each app's demo data (``saas.hooks``
``demo_seeders``: products adds the demo catalogue). Idempotent.

Why one file seeds two providers: API clients get tokens from Cognito (the moto server locally);
browsers sign in through an OIDC provider's hosted pages (Cognito's hosted UI in AWS, which moto
does not have, so a local provider process stands in). Cognito assigns each user's ``sub`` and it
cannot be chosen, while the local provider takes any ``sub`` with claims (``PUT /users/<sub>``).
So Cognito is created first and is the authority for ``sub``; the provider is then told about each
demo user under that very ``sub``. The same person therefore resolves to the same identity, and
the same memberships, whichever way they sign in. In AWS there is one provider and nothing to seed.
"""
from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings

from saas.hooks import hooks
from saas.tenancy import system_context
from saas.tenancy.store import DoesNotExist, transact_write

from . import active_tenant, cognito, selectors, services
from .models import UserMembership

logger = logging.getLogger("tenants.demo")

DEMO_USERS_FILE = Path(__file__).resolve().with_name("demo_users.json")


@dataclass
class SeededUser:
    email: str
    password: str
    name: str
    groups: list[str]
    sub: str = ""


@dataclass
class SeedResult:
    users: list[SeededUser] = field(default_factory=list)
    tenants: list[dict] = field(default_factory=list)  # {"id", "name", "tier", "created", "members"}
    provider_url: str = ""
    provider_registered: bool = False
    provider_error: str = ""
    seeded: list[str] = field(default_factory=list)  # the apps' demo data added to each tenant ("products")


def load_demo_file(path: str | Path | None = None) -> dict:
    with open(path or DEMO_USERS_FILE, encoding="utf-8") as f:
        data = json.load(f)
    emails = {u["email"] for u in data["users"]}
    for tenant in data["tenants"]:
        unknown = set(tenant["members"]) - emails
        if unknown:
            raise ValueError(f"tenant {tenant['name']!r} names unknown demo users: {sorted(unknown)}")
        if "admin" not in tenant["members"].values():
            raise ValueError(f"tenant {tenant['name']!r} needs an admin")
    return data


def demo_password(email: str, path: str | Path | None = None) -> str | None:
    for user in load_demo_file(path)["users"]:
        if user["email"].lower() == email.lower():
            return user["password"]
    return None


def ensure_cognito_user(*, email: str, password: str, groups: list[str]) -> cognito.CognitoUser:
    user = cognito.find_or_create_user(email=email, suppress_message=True)
    cognito.set_password(user.username, password)
    missing = set(groups) - cognito.groups_of(user.username)
    for group in sorted(missing):
        cognito.ensure_group(group)
        cognito.add_to_group(user.username, group)
    return user


def ensure_demo_tenant(*, name: str, tier: str, members: dict[str, str], users: dict[str, SeededUser]) -> dict:
    """Find the tenant by name among its first admin's memberships, else create it; then add any
    missing membership. Existing memberships are left as they are."""
    admin_email = next(email for email, role in members.items() if role == "admin")
    admin = users[admin_email]
    existing = next((m["tenant"] for m in selectors.memberships_of(admin.sub)
                     if m["tenant"].get("name") == name and m["role"] == "admin"), None)
    created = existing is None
    if created:
        tenant = services.register_tenant(name=name, tier=tier, owner_id=admin.sub, owner_email=admin.email)
    else:
        tenant = selectors.get_tenant(existing["id"])
    for email, role in members.items():
        user = users[email]
        with system_context(reason=f"seed_demo: membership of {email} in {tenant['id']}"):
            try:
                UserMembership.objects.get(user.sub, tenant["id"], consistent=True)
                continue
            except DoesNotExist:
                pass
            transact_write(services.membership_ops(tenant_id=tenant["id"], user_id=user.sub, email=user.email,
                                                   role=role))
        active_tenant.cache.invalidate_user(user.sub)
    return {"id": tenant["id"], "name": tenant["name"], "tier": tenant["tier"], "created": created,
            "members": dict(members)}


def provider_claims(user: SeededUser) -> dict:
    """What the local provider puts in this person's ID token (as Cognito's hosted UI would)."""
    return {"email": user.email, "email_verified": True, "name": user.name, "cognito:groups": list(user.groups)}


def is_loopback_url(url: str) -> bool:
    try:
        host = urlsplit(url).hostname or ""
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def register_with_local_provider(*, provider_url: str, users: list[SeededUser]) -> None:
    """``PUT <provider>/users/<sub>`` for each person (oidc-provider-mock's user API). Loopback only."""
    if not is_loopback_url(provider_url):
        raise ValueError(f"refusing to seed a non-loopback provider: {provider_url}")
    with requests.Session() as http:
        http.trust_env = False  # loopback never goes through a proxy
        for user in users:
            response = http.put(f"{provider_url.rstrip('/')}/users/{user.sub}", json=provider_claims(user), timeout=5)
            response.raise_for_status()


def seed_demo(*, path: str | Path | None = None, provider_url: str | None = None,
              app_data: bool = True) -> SeedResult:
    """``app_data=False``: users and tenants only, none of the apps' demo data."""
    data = load_demo_file(path)
    result = SeedResult(provider_url=provider_url if provider_url is not None else settings.OIDC_LOCAL_PROVIDER_URL)
    users: dict[str, SeededUser] = {}
    for raw in data["users"]:
        user = SeededUser(email=raw["email"].lower(), password=raw["password"], name=raw.get("name", ""),
                          groups=list(raw.get("groups", [])))
        user.sub = ensure_cognito_user(email=user.email, password=user.password, groups=user.groups).sub
        users[user.email] = user
        result.users.append(user)
    for raw in data["tenants"]:
        members = {email.lower(): role for email, role in raw["members"].items()}
        result.tenants.append(ensure_demo_tenant(name=raw["name"], tier=raw["tier"], members=members, users=users))
    if result.provider_url:
        try:
            register_with_local_provider(provider_url=result.provider_url, users=result.users)
            result.provider_registered = True
        except (requests.RequestException, ValueError) as exc:  # the API side is seeded regardless
            result.provider_error = str(exc)
            logger.warning("could not register demo users with %s: %s", result.provider_url, exc)
    if app_data:
        for name, seed in hooks.demo_seeders.items():
            for tenant in result.tenants:
                seed(tenant["id"])
            result.seeded.append(name)
    return result
