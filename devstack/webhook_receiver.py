"""A webhook subscriber endpoint on 127.0.0.1 for tests and benches: the moto server's SNS POSTs
deliveries to it. Records each notification per URL path, and each envelope's arrival time."""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self) -> None:
        self.deliveries: dict[str, list[dict]] = defaultdict(list)
        self.arrivals: dict[str, float] = {}  # envelope id -> time.perf_counter() at arrival
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold a handler thread forever

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                notification = json.loads(self.rfile.read(length))
                arrived = time.perf_counter()
                envelope_id = json.loads(notification["Message"]).get("id")
                with receiver._lock:
                    receiver.deliveries[self.path].append(notification)
                    receiver.arrivals.setdefault(envelope_id, arrived)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}{path}"

    def envelopes(self, path: str) -> list[dict]:
        """The JSON envelopes (SNS ``Message``) delivered to ``path``."""
        with self._lock:
            return [json.loads(n["Message"]) for n in self.deliveries.get(path, [])]

    def all_envelopes(self) -> list[dict]:
        with self._lock:
            paths = list(self.deliveries)
        return [e for p in paths for e in self.envelopes(p)]

    def wait_for_count(self, path: str, count: int, timeout: float = 5.0) -> list[dict]:
        """moto delivers inside Publish, so this rarely waits; it bounds any lag all the same."""
        deadline = time.monotonic() + timeout
        while len(self.envelopes(path)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.envelopes(path)

    def wait_for_ids(self, ids: set[str], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if ids <= self.arrivals.keys():
                    return True
            time.sleep(0.01)
        return False

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


class EndpointReceiver:
    """A webhook endpoint on 127.0.0.1 for our own (Standard Webhooks) deliveries: records each
    request's headers and raw body per path, and answers each path with the status set for it
    (``answer(path, 500)``; default 200; ``answer(path, 302)`` adds a Location)."""

    def __init__(self) -> None:
        self.requests: dict[str, list[tuple[dict, bytes]]] = defaultdict(list)
        self.statuses: dict[str, int] = {}
        self.arrivals: dict[str, float] = {}  # webhook-id -> time.perf_counter() at first arrival
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10
            # The answer's headers and body leave in two writes: with Nagle on, the body would wait
            # for the client's delayed ACK (~40 ms a request), a property of this server, not of delivery.
            disable_nagle_algorithm = True

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                arrived = time.perf_counter()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.requests[self.path].append((headers, body))
                    receiver.arrivals.setdefault(headers.get("webhook-id", ""), arrived)
                    status = receiver.statuses.get(self.path, 200)
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                answer = b'{"ok": true}' if status < 300 else b"x" * 4000  # long bodies are cut to 1 KiB
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # socketserver's 5 drops concurrent connects (a 1 s SYN retry)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}{path}"

    def answer(self, path: str, status: int) -> None:
        with self._lock:
            self.statuses[path] = status

    def received(self, path: str) -> list[tuple[dict, bytes]]:
        with self._lock:
            return list(self.requests.get(path, []))

    def ids(self, path: str) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.received(path)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
