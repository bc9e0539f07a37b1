"""Real Celery workers and brokers for tests: ``celery -A saas worker`` subprocesses against a Redis
we own (devstack.Redis on a free loopback port), so a test may stop the broker or SIGKILL a worker."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest
import redis as redis_py

from devstack.services import REPO_ROOT, descendants, popen_child, stop_process

# Test settings for worker processes: re-read tenant status quickly, retry events quickly, treat
# any open order as stuck (so a sweep re-enqueues it at once).
WORKER_ENV = {
    "TENANT_JOB_CACHE_SECONDS": "0.2",
    "OUTBOX_RETRY_BASE_SECONDS": "1",
    "ORDERS_STUCK_AFTER_SECONDS": "0",
    "ORDERS_FULFILMENT_DELAY_SECONDS": "0",
}


def wait_until(predicate: Callable[[], object], *, timeout: float = 20.0, interval: float = 0.1, what: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


class Worker:
    """One worker process (thread pool, so SIGKILL of its PID kills every job it runs)."""

    def __init__(self, broker_url: str, *, env: dict[str, str] | None = None, concurrency: int = 4,
                 pool: str = "threads", extra_args: tuple[str, ...] = ()):
        self.broker_url = broker_url
        self.extra_args = tuple(extra_args)  # e.g. ("-B", "-s", <schedule file>) for an embedded beat
        self.env = {**os.environ, **WORKER_ENV, **(env or {}), "CELERY_BROKER_URL": broker_url}
        self.concurrency = concurrency
        self.pool = pool
        log_dir = Path(REPO_ROOT, ".stack", "logs")  # like devstack's server logs (git-ignored)
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = Path(tempfile.mkstemp(prefix="celery-worker-", suffix=".log", dir=log_dir)[1])
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 40.0) -> "Worker":
        offset = self.log_path.stat().st_size
        log = open(self.log_path, "ab")
        self.process = popen_child(
            [sys.executable, "-m", "celery", "-A", "saas", "worker", "-P", self.pool, "-c", str(self.concurrency),
             "-l", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
             "-n", f"test-{uuid.uuid4().hex[:8]}@localhost", *self.extra_args],
            cwd=REPO_ROOT, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_until(lambda: " ready." in self.log(offset) or self.process.poll() is not None, timeout=timeout,
                   what="worker ready")
        if self.process.poll() is not None:
            raise RuntimeError(f"worker exited:\n{self.log(offset)[-4000:]}")
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, timeout=20)
            self.process = None

    def discard_log(self) -> None:
        self.log_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL by PID, as a lost machine: no warm shutdown, nothing acknowledged. Its children die
        too (an embedded beat, ``-B``, is a child process that would otherwise live on, orphaned)."""
        for pid in [*descendants(self.process.pid), self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def log(self, offset: int = 0) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    def wait_for_log(self, text: str, *, timeout: float = 20.0, offset: int = 0) -> str:
        return wait_until(lambda: text in self.log(offset) and self.log(offset), timeout=timeout, what=repr(text))


def reset_publishing(app) -> None:
    """Forget pooled broker connections so the next publish connects to ``app.conf.broker_url``."""
    from kombu import pools

    from saas.celery import broker

    # The app's pools live in kombu's process-wide registries, keyed by broker URL: closing them
    # without dropping them there would hand a closed pool to the next user of the same URL.
    pools.reset()
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None
    broker.forget()


@contextlib.contextmanager
def use_broker(url: str) -> Iterator[None]:
    """Point this (web) process's Celery app at ``url``."""
    from saas.celery import app

    names = ("broker_url", "broker_write_url", "broker_read_url")  # the app copies the URL into all three
    previous = {name: app.conf[name] for name in names}
    app.conf.update({name: url for name in names})
    reset_publishing(app)
    try:
        yield
    finally:
        app.conf.update(previous)
        reset_publishing(app)


# --- fixtures shared by tests/orders and tests/jobs (imported into their conftest.py) -------------


@contextlib.contextmanager
def own_redis_broker() -> Iterator:
    """A Redis server of our own (stopped by PID afterwards), this process's Celery app pointed at it."""
    from devstack.services import Redis

    server = Redis().start()
    try:
        with use_broker(server.url()):
            yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def redis_broker():
    """Our own Redis for the module, and this process's Celery app pointed at it."""
    with own_redis_broker() as server:
        yield server


@pytest.fixture
def own_broker():
    """A broker of this test's own, which it may stop, kill or freeze; this process publishes to it."""
    with own_redis_broker() as server:
        yield server


@pytest.fixture(scope="module")
def worker(redis_broker):
    """One real worker for the module; a test may stop it (to look at the queue) or kill it."""
    running = Worker(redis_broker.url()).start()
    yield running
    running.stop()
    running.discard_log()


@pytest.fixture
def running_worker(worker):
    """The module's worker, started if a previous test left it stopped, and started again after."""
    if not worker.running:
        worker.start()
    yield worker
    if not worker.running:
        worker.start()


@pytest.fixture
def broker_redis(redis_broker):
    """A client for inspecting the broker's keys (the queue list ``celery``, the ``unacked`` hash)."""
    client = redis_py.Redis.from_url(redis_broker.url())
    yield client
    client.close()
