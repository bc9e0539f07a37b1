"""Browser journeys: Debian's Chromium driven by Playwright, Django on a live server, sign-in through
the real OIDC flow against the local provider process, a real Celery worker for orders.

Every page a journey visits is saved as a screenshot at 1280 px and at 375 px under
``test-artifacts/screenshots/<journey>/`` (git-ignored; see README "Web app"), and on every one we
check what a person would notice: no horizontal overflow at 375 px, every control has an
accessible name, no Content-Security-Policy violation, no request leaves 127.0.0.1 (the Journey
and those checks: tests/web/harness.py).
"""
from __future__ import annotations

import os

import pytest

from tests.jobs.harness import Worker
from tests.web.harness import CHROMIUM, CHROMIUM_ARGS, journeys

# Playwright's sync API runs an event loop in this thread; nothing here touches Django's database.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

FULFILMENT_DELAY_SECONDS = "8"  # long enough to watch an order move and to cancel another (with screenshots in between)


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def journey(chromium, live_server, browser_settings, oidc_provider):
    with journeys(chromium, live_server.url, {live_server.url, oidc_provider.endpoint.rstrip("/")}) as _open:
        yield _open


@pytest.fixture(scope="module")
def slow_worker(redis_broker):
    """A real worker whose simulated fulfilment takes a few seconds, as in the local stack."""
    running = Worker(redis_broker.url(), env={"ORDERS_FULFILMENT_DELAY_SECONDS": FULFILMENT_DELAY_SECONDS}).start()
    yield running
    running.stop()
    running.discard_log()
