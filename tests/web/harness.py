"""The browser journeys' harness: a Journey (one person's browser context) with the checks made on every
page it shows, and registering a pool user with the local sign-in provider."""
from __future__ import annotations

import contextlib
import re
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDE, NARROW = 1280, 375

# Every control a person can operate, and how it gets its accessible name.
_UNNAMED_CONTROLS_JS = """
() => {
  const named = (el) => {
    if ((el.getAttribute('aria-label') || '').trim()) return true;
    const by = el.getAttribute('aria-labelledby');
    if (by && by.split(/\\s+/).some(id => (document.getElementById(id)?.textContent || '').trim())) return true;
    if (el.labels && Array.from(el.labels).some(l => l.textContent.trim())) return true;
    if ((el.textContent || '').trim()) return true;
    if ((el.getAttribute('title') || '').trim()) return true;
    if (el.tagName === 'INPUT' && ['submit', 'button'].includes(el.type) && el.value) return true;
    return false;
  };
  const controls = document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary');
  return Array.from(controls).filter(el => !named(el)).map(el => el.outerHTML.slice(0, 160));
}
"""


class Journey:
    """One person's browser (its own cookies) plus the checks made on every page it shows."""

    def __init__(self, browser, live_url: str, name: str, allowed_origins: set[str]):
        self.live_url = live_url
        self.folder = SCREENSHOTS / name
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in self.folder.glob("*.png"):
            old.unlink()
        self.context = browser.new_context(viewport={"width": WIDE, "height": 900})
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.count = 0
        self.csp_violations: list[str] = []
        self.foreign_requests: list[str] = []
        self.page.on("console", self._console)
        # Nothing leaves the machine: foreign requests are aborted. Those made by our pages are
        # failures; the local OIDC provider's own page (a development tool) asks for a stylesheet.
        self.context.route(re.compile(r"^https?://(?!(127\.0\.0\.1|localhost)[:/])"), self._foreign)
        self.context.on("request", lambda request: self._request(request, allowed_origins))

    def _console(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.csp_violations.append(message.text)

    def _foreign(self, route) -> None:
        route.abort()

    def _request(self, request, allowed: set[str]) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        try:
            on_our_page = request.frame.url.startswith(self.live_url)
        except Exception:  # a request with no frame (service worker): judge by its own URL
            on_our_page = True
        if on_our_page and f"{parts.scheme}://{parts.netloc}" not in allowed:
            self.foreign_requests.append(request.url)

    def go(self, path: str):
        return self.page.goto(self.live_url + path)

    def shot(self, name: str) -> None:
        """Screenshots at 1280 px and 375 px, and the checks a person would notice failing."""
        page = self.page
        page.wait_for_load_state("load")
        self.count += 1
        stem = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        page.screenshot(path=str(self.folder / f"{stem}-{WIDE}.png"), full_page=True)
        unnamed = page.evaluate(_UNNAMED_CONTROLS_JS)
        assert not unnamed, f"{name}: controls without an accessible name: {unnamed}"
        page.set_viewport_size({"width": NARROW, "height": 800})
        try:
            page.screenshot(path=str(self.folder / f"{stem}-{NARROW}.png"), full_page=True)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 375px screen"
        finally:
            page.set_viewport_size({"width": WIDE, "height": 900})
        assert not self.csp_violations, f"{name}: CSP violations: {self.csp_violations}"
        assert not self.foreign_requests, f"{name}: requests left 127.0.0.1: {self.foreign_requests}"

    def snap(self, name: str) -> None:
        """Screenshots only, for a page we do not make (Swagger UI)."""
        self.page.wait_for_load_state("load")
        self.count += 1
        stem = f"{self.count:02d}-{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-')}"
        self.page.screenshot(path=str(self.folder / f"{stem}-{WIDE}.png"))

    def sign_in(self, sub: str, *, expect_path: str = "/") -> None:
        """The real code flow: our sign-in page -> the provider's form -> the callback -> our page."""
        page = self.page
        if not urlsplit(page.url).path.startswith("/login/"):
            self.go("/login/")
        page.get_by_role("link", name="Sign in").click()
        page.locator('input[name="sub"]').fill(sub)
        page.locator('input[name="sub"]').press("Enter")
        page.wait_for_url(re.compile(re.escape(self.live_url) + re.escape(expect_path) + r"(\?.*)?$"))

    def close(self) -> None:
        self.context.close()


@contextlib.contextmanager
def journeys(chromium, base_url: str, allowed: set[str]):
    """A factory of journeys (browser contexts) that may only reach ``allowed`` origins; closed after."""
    opened: list[Journey] = []

    def _open(name: str) -> Journey:
        j = Journey(chromium, base_url, name, allowed)
        opened.append(j)
        return j

    try:
        yield _open
    finally:
        for j in opened:
            j.close()


def register(oidc_provider, user, groups=()):
    from tenants import demo

    demo.register_with_local_provider(provider_url=oidc_provider.endpoint, users=[demo.SeededUser(
        email=user.email, password="", name=user.email.split("@")[0], groups=list(groups), sub=user.sub)])
