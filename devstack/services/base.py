"""``Service``: one local server as a child process bound to 127.0.0.1, started and stopped by PID."""
from __future__ import annotations

import atexit
import os
import shlex
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import BinaryIO

from .common import (
    LOG_DIR,
    LOOPBACK,
    REPO_ROOT,
    ServiceError,
    free_port,
    popen_child,
    port_is_free,
    stop_process,
    tail,
)


class Service:
    """One local server process. Subclasses define ``command()`` and ``probe()``."""

    name = "service"
    startup_timeout = 30.0
    stop_timeout = 10.0

    def __init__(
        self,
        port: int | None = None,
        *,
        log_dir: str | Path | None = None,
        startup_timeout: float | None = None,
        stop_timeout: float | None = None,
    ) -> None:
        self.port: int | None = port
        self._port_is_automatic = port is None
        self._was_ready = False
        self.log_dir = Path(log_dir) if log_dir else LOG_DIR
        self.log_path: Path | None = None
        if startup_timeout is not None:
            self.startup_timeout = startup_timeout
        if stop_timeout is not None:
            self.stop_timeout = stop_timeout
        self.process: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.ready_seconds: float | None = None  # spawn -> first successful probe, last start
        self._spawned_at = 0.0
        self._terminated: subprocess.Popen | None = None  # SIGTERM already sent to this process
        self._log_file: BinaryIO | None = None
        self._lock = threading.RLock()

    # -- what a subclass provides

    def command(self) -> list[str]:
        raise NotImplementedError

    def probe(self) -> bool:
        """One readiness check: True when the server answers properly. Exceptions count as 'not yet'."""
        raise NotImplementedError

    def prepare(self) -> None:
        """Hook run before each spawn (e.g. compiling a launcher)."""

    def process_env(self) -> dict[str, str] | None:
        """Environment for the server process (None: inherit)."""
        return None

    # -- addresses

    @property
    def host(self) -> str:
        return LOOPBACK

    @property
    def endpoint(self) -> str:
        self._require_port()
        return f"http://{LOOPBACK}:{self.port}"

    def _require_port(self) -> None:
        if self.port is None:
            raise ServiceError(f"{self.name}: no port yet (start() first, or pass port=)")

    # -- lifecycle

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def spawn(self) -> None:
        """Start the process without waiting for readiness (``wait_ready()`` does that)."""
        with self._lock:
            if self.running:
                raise ServiceError(f"{self.name} is already running (pid {self.pid})")
            self.prepare()
            if self.port is None:
                self.port = free_port()
            elif not port_is_free(self.port):
                raise ServiceError(
                    f"{self.name}: 127.0.0.1:{self.port} is already in use "
                    "(another stack running? pick another port)"
                )
            cmd = self.command()
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = self.log_dir / f"{self.name}-{self.port}.log"
            self._log_file = open(self.log_path, "ab", buffering=0)
            self._log_file.write(
                f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {shlex.join(cmd)}\n".encode()
            )
            try:
                self.process = popen_child(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=self._log_file,
                    stderr=subprocess.STDOUT,
                    cwd=REPO_ROOT,
                    env=self.process_env(),
                    start_new_session=True,  # the terminal's Ctrl-C reaches us, and we stop it in order
                )
            except OSError as error:
                self._close_log()
                raise ServiceError(f"{self.name}: cannot run {cmd[0]}: {error}") from error
            self.returncode = None
            self._spawned_at = time.monotonic()
            _live.add(self)

    def wait_ready(self, timeout: float | None = None, cancel: threading.Event | None = None) -> None:
        """Poll ``probe()`` until it succeeds; raise ServiceError if the process exits or time runs out."""
        timeout = self.startup_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        last_error: BaseException | None = None
        while True:
            process = self.process
            if process is None:
                raise ServiceError(f"{self.name} is not running")
            if process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {process.returncode} before it was ready "
                    f"(port {self.port}); log {self.log_path}:\n{tail(self.log_path)}"
                )
            try:
                if self.probe():
                    self._was_ready = True
                    self.ready_seconds = time.monotonic() - self._spawned_at
                    return
            except Exception as error:  # not ready yet
                last_error = error
            if cancel is not None and cancel.is_set():
                raise ServiceError(f"{self.name}: start cancelled")
            if time.monotonic() >= deadline:
                raise ServiceError(
                    f"{self.name} not ready after {timeout:.1f}s on 127.0.0.1:{self.port} "
                    f"(last probe error: {last_error!r}); log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.1)

    def start(self, timeout: float | None = None) -> Service:
        """Start the server and wait until it is ready. Returns self."""
        attempts = 2 if (self._port_is_automatic and not self._was_ready) else 1
        for attempt in range(1, attempts + 1):
            self.spawn()
            try:
                self.wait_ready(timeout)
                return self
            except BaseException as error:
                exited_early = self.process is not None and self.process.poll() is not None
                self.stop()
                if isinstance(error, ServiceError) and exited_early and attempt < attempts:
                    self.port = None  # the automatic port may have been taken meanwhile: pick another
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def terminate(self) -> None:
        """Send SIGTERM (by PID) without waiting."""
        process = self.process
        if process is not None and process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            self._terminated = process

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM by PID, SIGKILL after ``timeout`` s; idempotent. Returns the exit code."""
        with self._lock:
            process = self.process
            if process is None:
                return self.returncode
            already_signalled = self._terminated is process
            self.returncode = stop_process(
                process, self.stop_timeout if timeout is None else timeout,
                None if already_signalled else signal.SIGTERM,
            )
            self._terminated = None
            self.process = None
            self._close_log()
            _live.discard(self)
            return self.returncode

    def restart(self, timeout: float | None = None) -> Service:
        self.stop()
        return self.start(timeout)

    def _close_log(self) -> None:
        if self._log_file is not None:
            try:
                self._log_file.close()
            finally:
                self._log_file = None

    def log_tail(self, lines: int = 40) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> Service:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<{type(self).__name__} 127.0.0.1:{self.port} {state}>"


_live: set[Service] = set()  # running services (strong refs: a forgotten one is still stopped at exit)


@atexit.register
def _stop_leftovers() -> None:
    for service in list(_live):
        try:
            service.stop()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass
