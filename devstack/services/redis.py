"""Redis (Debian ``redis-server``) on 127.0.0.1: the Celery broker and the shared cache."""
from __future__ import annotations

import shutil
import socket
from pathlib import Path

from .base import Service
from .common import LOOPBACK, STACK_DIR


class Redis(Service):
    """redis-server on 127.0.0.1, protected mode. Readiness: PING -> +PONG.

    No persistence by default (tests start their own). ``data_dir``: an append-only file there with
    ``appendfsync always`` (each write is written and fsynced before Redis answers it), read back when
    the server starts again: the local stack's Redis keeps the queued jobs and the cache across its
    own death (the supervisor restarts it). Not ``everysec``: while its background fsync is slow (a
    busy disk) Redis postpones writing the file for up to 2 s yet keeps answering, so a crash then
    loses writes it acknowledged. A developer's stack writes little; the fsyncs cost nothing felt.

    ``stop()`` then ``start()`` reuses the same port (a broker outage and its recovery).
    """

    name = "redis"
    startup_timeout = 20.0

    def __init__(self, port: int | None = None, *, redis_server: str | None = None,
                 data_dir: str | Path | None = None, **kwargs) -> None:
        super().__init__(port, **kwargs)
        self.redis_server = redis_server or shutil.which("redis-server") or "/usr/bin/redis-server"
        self.data_dir = Path(data_dir) if data_dir is not None else None

    @property
    def endpoint(self) -> str:
        return self.url(0)

    def url(self, db: int = 0) -> str:
        self._require_port()
        return f"redis://{LOOPBACK}:{self.port}/{db}"

    def command(self) -> list[str]:
        data_dir = self.data_dir or STACK_DIR / "redis"
        data_dir.mkdir(parents=True, exist_ok=True)
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.data_dir else ["--appendonly", "no"]
        return [
            self.redis_server, "--bind", LOOPBACK, "--port", str(self.port),
            "--save", "", *persistence, "--protected-mode", "yes",
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
