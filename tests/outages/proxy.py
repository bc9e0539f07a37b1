"""A small TCP proxy on 127.0.0.1 that injects faults between the app and one server (DynamoDB Local,
Redis, a webhook subscriber). Modes, switched at any time:

* ``pass``    forward both ways;
* ``refuse``  stop listening (new connections are refused) and reset the live ones;
* ``reset``   reset the live connections, and every new one as soon as it is accepted;
* ``stall``   keep connections open but forward nothing (a frozen server, a dead link);
* ``drop_responses(*matches, count=n)``: the next ``n`` requests (every one with ``count=None``,
  until ``stop_dropping()``) whose bytes contain one of ``matches`` are forwarded, and the
  connection is reset instead of returning the answer: the server did the work, the client never
  hears about it.

Threads only, bounded by ``stop()``; it never connects anywhere but its loopback target.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
import time


def _reset(sock: socket.socket) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultProxy:
    def __init__(self, target_port: int, *, target_host: str = "127.0.0.1", port: int = 0):
        assert target_host in ("127.0.0.1", "localhost")
        self.target = (target_host, target_port)
        self.mode = "pass"
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._drop_matches: tuple[bytes, ...] = ()
        self._drop_left: int | None = 0
        self.dropped = 0
        self._stopping = False
        self._listener: socket.socket | None = None
        self._port = port
        self._threads: list[threading.Thread] = []

    # --- lifecycle ------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return self._port

    def url(self, scheme: str = "http", path: str = "") -> str:
        return f"{scheme}://127.0.0.1:{self._port}{path}"

    def start(self) -> "FaultProxy":
        self._listen()
        thread = threading.Thread(target=self._accept_loop, name=f"fault-proxy-{self._port}", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stopping = True
        self._close_listener()
        self._reset_all()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self._port))
        listener.listen(128)
        listener.settimeout(0.1)
        self._port = listener.getsockname()[1]
        self._listener = listener

    def _close_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()

    # --- faults -----------------------------------------------------------------------------------
    def set(self, mode: str) -> None:
        assert mode in ("pass", "refuse", "reset", "stall"), mode
        with self._lock:
            previous, self.mode = self.mode, mode
        if mode in ("refuse", "reset"):
            self._reset_all()
        if mode == "refuse":
            self._close_listener()
        elif previous == "refuse" and self._listener is None and not self._stopping:
            self._listen()

    def drop_responses(self, *matches: bytes, count: int | None = 1) -> None:
        with self._lock:
            self._drop_matches, self._drop_left = matches, count

    def stop_dropping(self) -> None:
        with self._lock:
            self._drop_matches, self._drop_left = (), 0

    def _should_drop(self, data: bytes) -> bool:
        with self._lock:
            if self._drop_left == 0 or not any(m in data for m in self._drop_matches):
                return False
            if self._drop_left is not None:
                self._drop_left -= 1
            return True

    def _reset_all(self) -> None:
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)

    # --- plumbing ---------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        while not self._stopping:
            listener = self._listener
            if listener is None:
                time.sleep(0.05)
                continue
            try:
                client, _ = listener.accept()
            except (socket.timeout, OSError):
                continue
            if self.mode == "reset":
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            thread = threading.Thread(target=self._pump, args=(client, upstream), daemon=True)
            thread.start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        drop_next_response = False
        try:
            while not self._stopping:
                if self.mode == "stall":
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select([client, upstream], [], [], 0.1)
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    if sock is client:
                        drop_next_response = drop_next_response or self._should_drop(data)
                        upstream.sendall(data)
                    elif drop_next_response:
                        self.dropped += 1
                        raise ConnectionError("response dropped")
                    else:
                        client.sendall(data)
        except (OSError, ValueError, ConnectionError):
            pass
        finally:
            with self._lock:
                if (client, upstream) in self._pairs:
                    self._pairs.remove((client, upstream))
            _reset(client)
            _reset(upstream)
