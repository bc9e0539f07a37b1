"""Shared bench helpers: Django setup under the local stack's env (tables created, so a bench runs
from a fresh stack), the smoke mode, timing, round-trip counting.

``--smoke`` (or ``BENCH_SMOKE=1``): a handful of iterations, to prove the bench still runs (the
test suite runs every bench this way, ``tests/test_benches.py``); its figures mean nothing."""
from __future__ import annotations

import os
import random
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SMOKE = "--smoke" in sys.argv or os.environ.get("BENCH_SMOKE") == "1"


def size(full: int, smoke: int) -> int:
    """An iteration count: ``full`` for figures, ``smoke`` in the smoke mode."""
    return smoke if SMOKE else full


def setup_django() -> None:
    if not os.environ.get("DYNAMODB_ENDPOINT_URL"):
        sys.exit("run under the local stack: .venv/bin/python -m devstack test -- .venv/bin/python bench/<script>.py")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "saas.settings")
    import django

    django.setup()
    from saas.tenancy import tables

    tables.ensure_all()  # a fresh stack has no tables yet
    import audit

    audit.ensure_chain_key()  # the audit chain's key (a secret in AWS; created on the local stack)


class CallCounter:
    """Counts AWS API calls per operation through a botocore hook on the shared session."""

    def __init__(self, service: str = "dynamodb"):
        from saas import aws

        self.calls: list[str] = []
        aws.botocore_session().register(f"before-call.{service}", self._hook)
        aws.reset_clients()  # clients copy the session's hooks when created

    def _hook(self, model, **kwargs):
        self.calls.append(model.name)

    @contextmanager
    def counting(self):
        start = len(self.calls)
        box: list[str] = []
        yield box
        box.extend(self.calls[start:])


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered), "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
            "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]}


def timed(fn, iterations: int, warmup: int = 30) -> list[float]:
    for _ in range(size(warmup, 1)):
        fn()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return samples


def interleaved(fns: dict, iterations: int, warmup: int = 30) -> dict[str, list[float]]:
    """Time several variants in alternation so machine noise hits them equally."""
    for fn in fns.values():
        for _ in range(size(warmup, 1)):
            fn()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    shuffler = random.Random(1)
    for _ in range(iterations):
        shuffler.shuffle(order)  # no variant always runs first (after the others' garbage)
        for name in order:
            fn = fns[name]
            started = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - started)
    return samples


def signed_in_tenant(*, tier: str, name: str) -> tuple[str, dict]:
    """A real Cognito user (local emulator) who owns a new pooled tenant: (ID token, tenant)."""
    import secrets
    import uuid

    from tenants import cognito
    from tenants.services import create_pooled_tenant

    email = f"bench-{uuid.uuid4().hex[:10]}@example.test"
    password = "Bench-" + secrets.token_urlsafe(12) + "1a!"
    user = cognito.create_user(email=email, suppress_message=True)
    cognito.set_password(user.username, password)
    tenant = create_pooled_tenant(name=name, tier=tier, owner_id=user.sub, owner_email=email)
    return cognito.sign_in(email, password)["IdToken"], tenant
