"""Redis (Debian ``redis-server``) on 127.0.0.1: the Celery broker and the shared cache."""
from __future__ import annotations

import shutil
import socket

from .base import Service
from .common import LOOPBACK, STACK_DIR


class Redis(Service):
    """redis-server on 127.0.0.1, no persistence, protected mode. Readiness: PING -> +PONG.

    ``stop()`` then ``start()`` reuses the same port (a broker outage and its recovery).
    """

    name = "redis"
    startup_timeout = 20.0

    def __init__(self, port: int | None = None, *, redis_server: str | None = None, **kwargs) -> None:
        super().__init__(port, **kwargs)
        self.redis_server = redis_server or shutil.which("redis-server") or "/usr/bin/redis-server"

    @property
    def endpoint(self) -> str:
        return self.url(0)

    def url(self, db: int = 0) -> str:
        self._require_port()
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def command(self) -> list[str]:
        data_dir = STACK_DIR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        return [
            self.redis_server, "--bind", LOOPBACK, "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
            "--daemonize", "no", "--dir", str(data_dir),
        ]

    def probe(self) -> bool:
        return self.ping()

    def ping(self, timeout: float = 1.0) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=timeout) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False
