"""Noisy neighbour: tenant B floods at 10x its rate limit while tenant A works normally.

A real server process (Django's threaded WSGI server, on 127.0.0.1) serves both tenants. A
sends sequential GET /api/v1/products/{id}; its latency is measured alone and then while B sends
paced requests at ten times B's limit. Reported: how long until B gets its first 429, and A's
p50/p99 solo vs under the flood (target: A's p99 <= 1.2x solo; B throttled within 1 s).

    .venv/bin/python -m devstack test -- .venv/bin/python bench/bench_noisy_neighbour.py
"""
from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import time

import requests
from _common import ROOT, percentiles, setup_django, signed_in_tenant, size

B_RATE_PER_SECOND = 10  # B's tier limit in this run
FLOOD_FACTOR = 10
PHASE_SECONDS = size(12, 1)

os.environ["THROTTLE_RATE_BASIC"] = f"{B_RATE_PER_SECOND}/s"
os.environ["THROTTLE_RATE_PREMIUM"] = "1000/s"  # A (premium) stays well inside its own limit
setup_django()

from products.services import seed_demo_products  # noqa: E402

# A thread per request, like runserver, but with TCP_NODELAY: without it small responses meet the
# client's delayed ACK and every request costs ~40 ms.
SERVER = """
import sys, django
django.setup()
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

class Handler(WSGIRequestHandler):
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass

server = ThreadedWSGIServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.set_app(get_wsgi_application())
server.serve_forever()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except requests.RequestException:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("server did not start")


def measure_a(session: requests.Session, url: str, seconds: float) -> list[float]:
    samples, end = [], time.monotonic() + seconds
    while time.monotonic() < end:
        started = time.perf_counter()
        assert session.get(url, timeout=10).status_code == 200
        samples.append(time.perf_counter() - started)
    return samples


def flood_b(token: str, url: str, seconds: float, result: dict) -> None:
    """Runs in its own process, so the flood does not share the measuring client's interpreter."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    interval = 1.0 / (B_RATE_PER_SECOND * FLOOD_FACTOR)
    started = time.monotonic()
    next_at, codes = started, {}
    while time.monotonic() - started < seconds:
        status = session.get(url, timeout=10).status_code
        codes[status] = codes.get(status, 0) + 1
        if status == 429 and "first_429" not in result:
            result["first_429"] = time.monotonic() - started
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    result["codes"] = codes
    result["rate"] = sum(codes.values()) / seconds


def main() -> None:
    token_a, tenant_a = signed_in_tenant(tier="premium", name="Quiet A")
    token_b, tenant_b = signed_in_tenant(tier="basic", name="Noisy B")
    product_a = seed_demo_products(tenant_id=tenant_a["id"], count=3)[0]["id"]
    product_b = seed_demo_products(tenant_id=tenant_b["id"], count=3)[0]["id"]
    port = free_port()
    server = start_server(port)
    try:
        a = requests.Session()
        a.headers["Authorization"] = f"Bearer {token_a}"
        url_a = f"http://127.0.0.1:{port}/api/v1/products/{product_a}"
        url_b = f"http://127.0.0.1:{port}/api/v1/products/{product_b}"
        measure_a(a, url_a, 2)  # warm up
        solo = percentiles(measure_a(a, url_a, PHASE_SECONDS))
        time.sleep(1.1)  # B starts from a fresh window
        flood = multiprocessing.Manager().dict()
        flooder = multiprocessing.Process(target=flood_b, args=(token_b, url_b, PHASE_SECONDS, flood))
        flooder.start()
        contended = percentiles(measure_a(a, url_a, PHASE_SECONDS))
        flooder.join()
    finally:
        server.terminate()
        server.wait(10)
    print(f"B: limit {B_RATE_PER_SECOND}/s, sent {flood['rate']:.0f}/s; statuses {flood['codes']}; "
          f"first 429 after {flood.get('first_429', float('nan')):.2f} s")
    print(f"A alone:      p50 {solo['p50'] * 1000:6.2f} ms  p99 {solo['p99'] * 1000:6.2f} ms")
    print(f"A beside B:   p50 {contended['p50'] * 1000:6.2f} ms  p99 {contended['p99'] * 1000:6.2f} ms  "
          f"(p99 ratio {contended['p99'] / solo['p99']:.2f}, target <= 1.2)")


if __name__ == "__main__":
    main()
