"""Identity cost per request on a warm process: JWT verification + active-tenant resolution (µs),
and the DynamoDB round trips resolution spends per authenticated request (target: 0 when warm).

A real user is created in the local Cognito pool (moto) and signs in with InitiateAuth; the token
is verified against the emulator's JWKS exactly as in production. Round trips are counted with a
botocore event hook on saas.aws.botocore_session().

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_identity.py
    (or, with the servers already running and their env exported: .venv/bin/python bench/bench_identity.py)
"""
from __future__ import annotations

import secrets
import uuid

from _common import CallCounter, percentiles, setup_django, size, timed

setup_django()

from django.conf import settings  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from saas.tenancy import tables  # noqa: E402
from saas.tenancy.middleware import TenantContextMiddleware  # noqa: E402
from tenants import active_tenant, cognito, services  # noqa: E402
from tenants.identity import _verify, jwks, verify_token  # noqa: E402

ITERATIONS = size(2000, 3)


def us(seconds: float) -> str:
    return f"{seconds * 1e6:8.1f} µs"


def main() -> None:
    tables.ensure_all()
    counter = CallCounter()  # registers the hook and recreates the clients

    email = f"bench-{uuid.uuid4().hex[:10]}@example.test"
    password = "Bench-" + secrets.token_urlsafe(10) + "1a!"
    user = cognito.create_user(email=email, suppress_message=True)
    cognito.set_password(user.username, password)
    tenant = services.create_pooled_tenant(name="Bench", tier="basic", owner_id=user.sub, owner_email=email)
    tokens = cognito.sign_in(email, password)
    id_token, access_token = tokens["IdToken"], tokens["AccessToken"]

    factory = RequestFactory()
    middleware = TenantContextMiddleware(lambda request: HttpResponse(b"ok"))

    def request(token: str = id_token):
        return middleware(factory.get("/bench", HTTP_AUTHORIZATION=f"Bearer {token}"))

    # cold: empty JWKS cache and membership cache
    jwks.clear()
    active_tenant.cache.clear()
    with counter.counting() as cold_calls:
        request()
    fetches_cold = jwks.fetch_count

    # warm: N authenticated requests, count the round trips
    with counter.counting() as warm_calls:
        for _ in range(ITERATIONS):
            request()
    fetches_warm = jwks.fetch_count - fetches_cold

    identity = verify_token(id_token)
    first_id = percentiles(timed(lambda: _verify(id_token), ITERATIONS))  # full check, as for a new token
    first_access = percentiles(timed(lambda: _verify(access_token), ITERATIONS))
    verify_id = percentiles(timed(lambda: verify_token(id_token), ITERATIONS))  # the same token again
    verify_access = percentiles(timed(lambda: verify_token(access_token), ITERATIONS))
    resolve_warm = percentiles(timed(lambda: active_tenant.resolve(identity), ITERATIONS))
    whole = percentiles(timed(request, ITERATIONS))
    assert "Scan" not in counter.calls

    print(f"tenant {tenant['id']}, user {user.sub}; {ITERATIONS} iterations each; "
          f"membership cache TTL {settings.MEMBERSHIP_CACHE_TTL_SECONDS:g} s")
    print("Cost per request on a warm process (p50 / p99):")
    print(f"  verify a new ID token (parse, RS256, claims) {us(first_id['p50'])} / {us(first_id['p99'])}")
    print(f"  verify a new access token                    {us(first_access['p50'])} / {us(first_access['p99'])}")
    print(f"  verify the same ID token again (exp/nbf only){us(verify_id['p50'])} / {us(verify_id['p99'])}")
    print(f"  verify the same access token again           {us(verify_access['p50'])} / {us(verify_access['p99'])}")
    print(f"  resolve active tenant (cache hit)            {us(resolve_warm['p50'])} / {us(resolve_warm['p99'])}")
    print(f"  middleware (+ building the test request)     {us(whole['p50'])} / {us(whole['p99'])}")
    print("DynamoDB round trips spent on resolution:")
    print(f"  cold request (first for this user)           {len(cold_calls)}  {cold_calls}")
    print(f"  warm, per authenticated request              {len(warm_calls) / ITERATIONS:g}  "
          f"({len(warm_calls)} over {ITERATIONS} requests; target 0)")
    print(f"JWKS fetches: cold {fetches_cold}, warm {fetches_warm} (target 0 network calls per warm request)")


if __name__ == "__main__":
    main()
