"""Paths, loopback ports, HTTP probes and child processes (started with a parent-death signal, stopped by PID)."""
from __future__ import annotations

import ctypes
import glob
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
STACK_DIR = REPO_ROOT / ".stack"
LOG_DIR = STACK_DIR / "logs"
BUILD_DIR = REPO_ROOT / ".build"
LOOPBACK = "127.0.0.1"

DUMMY_AWS_ACCESS_KEY_ID = "local"
DUMMY_AWS_SECRET_ACCESS_KEY = "local"

DEFAULT_OIDC_CLIENT_ID = "saas-local-web"
DEFAULT_OIDC_CLIENT_SECRET = "saas-local-secret"


class ServiceError(RuntimeError):
    """A local server could not be started (the message carries the tail of its log)."""




def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1 (all sockets are held until every port is picked)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((LOOPBACK, 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    return free_ports(1)[0]


def port_is_free(port: int) -> bool:
    """True if a server could bind 127.0.0.1:port now (SO_REUSEADDR, like the servers themselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def tcp_open(port: int, host: str = LOOPBACK, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# urllib without any proxy from the environment: readiness probes only ever talk to loopback.
_loopback_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET ``url`` (loopback only) and return (status, body); HTTP error statuses are returned too."""
    if not url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"refusing a non-loopback URL: {url}")
    try:
        with _loopback_opener.open(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def tail(path: Path | None, lines: int = 40, max_bytes: int = 16384) -> str:
    if path is None or not path.exists():
        return "(no log)"
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - max_bytes))
        data = f.read().decode("utf-8", "replace")
    return "\n".join(data.splitlines()[-lines:]) or "(log is empty)"


def boto3_client(service: str, endpoint_url: str, region: str = "us-east-1", **config):
    """A boto3 client for a local endpoint with dummy credentials, short timeouts and no retries."""
    import boto3
    from botocore.config import Config

    if not endpoint_url.startswith(f"http://{LOOPBACK}:"):
        raise ValueError(f"refusing a non-loopback endpoint: {endpoint_url}")
    session = boto3.session.Session(
        aws_access_key_id=DUMMY_AWS_ACCESS_KEY_ID,
        aws_secret_access_key=DUMMY_AWS_SECRET_ACCESS_KEY,
        region_name=region,
    )
    settings = {"connect_timeout": 2, "read_timeout": 10, "retries": {"max_attempts": 1}}
    settings.update(config)
    return session.client(service, endpoint_url=endpoint_url, config=Config(**settings))


# PR_SET_PDEATHSIG: the kernel sends the child SIGTERM when the thread that forked it dies. That is
# only safe from the main thread (a worker thread ends long before the server should).
_PR_SET_PDEATHSIG = 1
try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None
except (OSError, AttributeError):  # pragma: no cover - non-glibc platforms
    _prctl = None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _preexec_fn():
    if _prctl is not None and threading.current_thread() is threading.main_thread():
        return _die_with_parent
    return None


def popen_child(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Popen that ties the child's life to this process where it safely can (see _preexec_fn)."""
    kwargs.setdefault("preexec_fn", _preexec_fn())
    return subprocess.Popen(cmd, **kwargs)


def stop_process(process: subprocess.Popen, timeout: float = 10.0, sig: int | None = signal.SIGTERM) -> int | None:
    """Send ``sig`` to the process (by PID; None: it was already sent), wait ``timeout`` s, then
    SIGKILL it and its children (by PID)."""
    if process.poll() is None:
        if sig is not None:
            try:
                os.kill(process.pid, sig)
            except ProcessLookupError:
                pass
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in [*descendants(process.pid), process.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
                pass
    return process.returncode


def descendants(pid: int) -> list[int]:
    """PIDs of the process's children, grandchildren, ... (from /proc; empty where unavailable)."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        for children_file in glob.glob(f"/proc/{current}/task/*/children"):
            try:
                with open(children_file) as f:
                    children = [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
            found.extend(children)
            stack.extend(children)
    return found


def merged_no_proxy(*hosts: str) -> str:
    current = [h.strip() for h in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(",") if h.strip()]
    return ",".join(dict.fromkeys([*hosts, *current]))
