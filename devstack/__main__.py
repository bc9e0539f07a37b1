"""Command line for the local stack (every server on 127.0.0.1, stopped by PID on exit).

    python -m devstack test [-- CMD ...]   start the servers on free ports, run CMD (default:
                                           python -m pytest) with their env, stop them, exit with
                                           CMD's code (pytest's 5, "no tests collected", fails too)
    python -m devstack up                  servers on fixed ports + ensure_tables + seed_demo (if it
                                           exists) + runserver + celery worker + celery beat; Redis
                                           keeps its data in an append-only file (.stack/redis-data)
                                           and is restarted if it dies
    python -m devstack up --persist        DynamoDB Local keeps its data on disk while the stack runs
                                           (restarted if it dies); a crashed worker is restarted
    python -m devstack up --broker sqs     the same, but jobs go through the moto server's SQS to the
                                           worker stage's Zappa handler (devstack.sqs_poller): no
                                           Celery worker or beat, as in AWS
    python -m devstack services            servers on fixed ports only (then `source .stack/env`)
    python -m devstack token USER [...]    print a Cognito ID token for USER from the running stack
    python -m devstack package [STAGE...]  build the Lambda zip of each Zappa stage (.build/lambda/)
    python -m devstack iam-policy STAGE    print the policy of the stage's function role
                                           (deploy/stack.yaml), resolved
    python -m devstack deploy STAGE [--dry-run]
                                           deploy a stage to AWS: the stack, both functions, the
                                           smoke check (devstack/deploy.py; README "Deploying")

Fixed ports (``up`` / ``services``), each overridable by the same-named environment variable:
STACK_WEB_PORT=8000, STACK_DYNAMODB_PORT=8001, STACK_REDIS_PORT=6380, STACK_MOTO_PORT=5001,
STACK_OIDC_PORT=8002. ``up`` and ``services`` write the environment to ``.stack/env`` (shell
``export`` lines) for a second terminal. Logs: ``.stack/logs/``.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .services import (
    LOG_DIR,
    REPO_ROOT,
    STACK_DIR,
    LocalStack,
    ServiceError,
    boto3_client,
    http_get,
    popen_child,
    port_is_free,
    stop_process,
)

ENV_FILE = STACK_DIR / "env"
DEFAULT_PORTS = {"web": 8000, "dynamodb": 8001, "redis": 6380, "moto": 5001, "oidc": 8002}
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PYTEST_NO_TESTS = 5

# Variables that could point a child at real AWS (or at the user's profile config); the stack's
# dummy credentials and explicit endpoints replace them.
_AWS_VARS_TO_DROP = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
                     "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                     "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")


def say(message: str) -> None:
    print(f"devstack: {message}", file=sys.stderr, flush=True)


# --- signals --------------------------------------------------------------------------------------


class Signalled(BaseException):
    """Raised in the main thread by the first SIGINT/SIGTERM/SIGHUP; later ones are only recorded,
    so the cleanup that follows cannot itself be interrupted."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def install_signal_handlers() -> None:
    def later(signum, frame):
        say(f"{signal.Signals(signum).name} again: still stopping (bounded by timeouts)")

    def first(signum, frame):
        for sig in HANDLED_SIGNALS:
            signal.signal(sig, later)
        raise Signalled(signum)

    for sig in HANDLED_SIGNALS:
        signal.signal(sig, first)


# --- environment ----------------------------------------------------------------------------------


def child_env(stack_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _AWS_VARS_TO_DROP and not k.startswith("AWS_ENDPOINT_URL")}
    env.update(stack_env)
    env["AWS_EC2_METADATA_DISABLED"] = "true"  # never reach for instance metadata (a non-loopback address)
    return env


def write_env_file(env: dict[str, str], path: Path = ENV_FILE) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# Written by `python -m devstack` for the running local stack; `source .stack/env`."]
    lines += [f"export {key}={shlex.quote(value)}" for key, value in env.items()]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    os.replace(tmp, path)


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        parts = shlex.split(line, comments=True)
        if len(parts) == 2 and parts[0] == "export" and "=" in parts[1]:
            key, value = parts[1].split("=", 1)
            env[key] = value
    return env


def remove_env_file_if_ours(env: dict[str, str]) -> None:
    try:
        if ENV_FILE.exists() and read_env_file().get("STACK_MOTO_PORT") == env.get("STACK_MOTO_PORT"):
            ENV_FILE.unlink()
    except OSError:
        pass


def fixed_ports() -> dict[str, int]:
    ports = {}
    for name, default in DEFAULT_PORTS.items():
        raw = os.environ.get(f"STACK_{name.upper()}_PORT", "").strip()
        try:
            ports[name] = int(raw) if raw else default
        except ValueError:
            raise SystemExit(f"devstack: STACK_{name.upper()}_PORT must be a port number, not {raw!r}") from None
    busy = [f"{name} 127.0.0.1:{port} (STACK_{name.upper()}_PORT)" for name, port in ports.items() if not port_is_free(port)]
    if busy:
        raise SystemExit(
            "devstack: ports already in use: " + ", ".join(busy)
            + ". Is another stack running? Stop it, or override the ports with those variables."
        )
    return ports


def prune_old_logs(max_age_days: float = 3) -> None:
    cutoff = time.time() - max_age_days * 86400
    for path in LOG_DIR.glob("*.log"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def describe(stack: LocalStack) -> str:
    return (f"dynamodb :{stack.dynamodb.port}, redis :{stack.redis.port}, moto :{stack.moto.port}, "
            f"oidc :{stack.oidc.port}")


def start_stack(stack: LocalStack) -> dict[str, str]:
    prune_old_logs()
    say("starting DynamoDB Local, Redis, moto and the OIDC provider on 127.0.0.1 ...")
    env = stack.start()
    say(f"stack ready in {stack.startup_seconds:.1f}s ({describe(stack)}; logs in {LOG_DIR.relative_to(REPO_ROOT)}/)")
    return env


# --- test -----------------------------------------------------------------------------------------


def _is_pytest(cmd: list[str]) -> bool:
    return any(Path(part).name in ("pytest", "py.test") for part in cmd[:4])


def _stop_test_command(child: subprocess.Popen, signum: int) -> int:
    if signum == signal.SIGINT:
        # A terminal's Ctrl-C reached the command too (same process group): let it wind down.
        try:
            return child.wait(15)
        except subprocess.TimeoutExpired:
            say("the command is still running: sending SIGINT")
            return stop_process(child, 15, signal.SIGINT)
    return stop_process(child, 15, signal.SIGTERM)


def cmd_test(cmd: list[str]) -> int:  # noqa: C901 - one linear start/run/stop/report sequence
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        cmd = [sys.executable, "-m", "pytest"]
    stack = LocalStack()
    install_signal_handlers()
    child: subprocess.Popen | None = None
    rc = 1
    try:
        env = start_stack(stack)
        say(f"running: {shlex.join(cmd)}")
        try:
            child = popen_child(cmd, env=child_env(env))  # our process group: Ctrl-C and pdb work
        except OSError as error:
            say(f"cannot run {cmd[0]}: {error}")
            return 127
        rc = child.wait()
    except Signalled as sig:
        say(f"{sig}: stopping")
        rc = _stop_test_command(child, sig.signum) if child is not None else 128 + sig.signum
    except ServiceError as error:
        say(str(error))
        rc = 1
    finally:
        if child is not None and child.poll() is None:
            stop_process(child, 15)
        log_files = [s.log_path for s in stack.services if s.log_path]
        stack.stop()
        if rc == 0:
            for path in log_files:  # a green run leaves nothing behind; a red one keeps its logs
                path.unlink(missing_ok=True)
        else:
            say("server logs: " + ", ".join(str(p.relative_to(REPO_ROOT)) for p in log_files if p.exists()))
    if rc < 0:
        rc = 128 - rc  # killed by a signal
    if rc == PYTEST_NO_TESTS and _is_pytest(cmd):
        say("FAILED: pytest collected no tests (exit code 5) - treated as a failure")
    return rc


# --- up / services --------------------------------------------------------------------------------


def manage(*args: str) -> list[str]:
    return [sys.executable, str(REPO_ROOT / "manage.py"), *args]


def has_management_command(name: str, env: dict[str, str]) -> bool:
    result = subprocess.run(manage("help", name), env=env, cwd=REPO_ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, timeout=120)
    return result.returncode == 0


def run_management_command(name: str, env: dict[str, str], timeout: float = 600) -> None:
    say(f"manage.py {name}")
    result = subprocess.run(manage(name), env=env, cwd=REPO_ROOT, timeout=timeout)
    if result.returncode != 0:
        raise ServiceError(f"manage.py {name} failed with exit code {result.returncode}")


def wait_for_web(port: int, process: subprocess.Popen, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            http_get(f"http://127.0.0.1:{port}/health", timeout=2)
            return True
        except OSError:
            time.sleep(0.2)
    return False


DEMO_USERS_FILE = REPO_ROOT / "tenants" / "demo_users.json"


@dataclass(frozen=True)
class DemoUser:
    email: str
    sub: str  # the Cognito sub: the sign-in id typed at the local provider ("" if not found)
    password: str
    sees: str


def demo_users(env: dict[str, str], path: Path = DEMO_USERS_FILE) -> list[DemoUser]:
    """The demo users of ``path`` with the ``sub`` the local Cognito pool gave each (read back from
    the pool after ``seed_demo``, the authority for ``sub``)."""
    with open(path, encoding="utf-8") as f:
        people = json.load(f)["users"]
    subs: dict[str, str] = {}
    try:
        cognito = boto3_client("cognito-idp", env["MOTO_ENDPOINT_URL"])
        for person in people:
            found = cognito.list_users(UserPoolId=env["COGNITO_USER_POOL_ID"],
                                       Filter=f'email = "{person["email"].lower()}"', Limit=1)["Users"]
            attributes = {a["Name"]: a["Value"] for a in found[0]["Attributes"]} if found else {}
            subs[person["email"]] = attributes.get("sub", "")
    except Exception as exc:  # the banner still prints, saying the ids are missing
        say(f"could not read the demo users' subs from the local Cognito pool: {exc}")
    return [DemoUser(email=p["email"], sub=subs.get(p["email"], ""), password=p["password"], sees=p.get("sees", ""))
            for p in people]


def banner(env: dict[str, str], web_port: int, broker: str = "redis",
           users: Iterable[DemoUser] = ()) -> str:
    """What ``up`` prints once everything answers: where things are and how to sign in as each demo
    user (their sign-in id is the Cognito ``sub``, typed at the local provider)."""
    web = f"http://127.0.0.1:{web_port}"
    oidc = f"http://127.0.0.1:{env['STACK_OIDC_PORT']}"
    py = os.path.relpath(sys.executable, REPO_ROOT) if sys.executable.startswith(str(REPO_ROOT)) else sys.executable
    people = []
    for user in users:
        people.append(f"  {user.email:<18} sign-in id {user.sub or '(not found in the local Cognito pool)'}\n"
                      f"  {'':<18} password   {user.password}\n"
                      f"  {'':<18} sees       {user.sees}")
    demo = ("\n".join(people) if people else "  (no demo users: tenants/demo_users.json is empty)")
    return f"""
Local stack is up. Ctrl-C stops everything.

Sign in: open {web}/login/ -> Sign in -> at the local provider ({oidc}) type a sign-in id below
(the user's Cognito sub). The password is the user's in the local Cognito pool (API tokens).
Someone new: "Create an account" on the sign-in page (email + password, then the emailed code).
{demo}

  web app      {web}/   (health {web}/health, API {web}/api/v1/, schema {web}/api/schema/)
  DynamoDB     {env['DYNAMODB_ENDPOINT_URL']}
  jobs         {jobs_line(env, broker)}
  moto (AWS)   {env['MOTO_ENDPOINT_URL']}   Cognito pool {env['COGNITO_USER_POOL_ID']}, app client {env['COGNITO_APP_CLIENT_IDS']}
  env          source .stack/env        logs: .stack/logs/
  API token    source .stack/env; TOKEN=$({py} manage.py demo_token alice@demo.test)
               curl -H "Authorization: Bearer $TOKEN" {web}/api/v1/...
"""


def jobs_line(env: dict[str, str], broker: str) -> str:
    if broker == "sqs":
        return (f"SQS {env['SQS_JOBS_QUEUE_URL']} -> Zappa's handler (stage dev_worker) via the local poller; "
                f"log .stack/logs/lambda-worker.log")
    return f"Redis {env['REDIS_URL']} -> celery worker + beat"


def _stop_children(children: list[tuple[str, subprocess.Popen]]) -> None:
    for _, process in reversed(children):
        if process.poll() is None:
            try:
                os.kill(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for _, process in reversed(children):
        stop_process(process, 15, None)  # SIGTERM sent above; SIGKILL after 15 s


class Supervisor:
    """Keeps the stack's processes running. A child started with a restart policy (the Celery worker
    and beat, the Lambda worker poller) that exits is started again with the same command, after a
    back-off that grows while it keeps crashing; a crash of a child without one (the web server)
    stops the stack. A server listed in ``restart_servers`` (Redis, whose data is in an append-only
    file; DynamoDB Local when its data is persisted) is restarted too; any other server's death
    stops the stack."""

    def __init__(self, stack: LocalStack | None = None, *, restart_servers: Iterable[str] = (),
                 clock=time.monotonic):
        self.stack = stack
        self.restart_servers = set(restart_servers)
        self.children: list[tuple[str, subprocess.Popen]] = []
        self._specs: dict[str, tuple[list[str], dict, bool]] = {}
        self._crashes: dict[str, list[float]] = {}
        self._restart_at: dict[str, float] = {}
        self._clock = clock
        self.restarts: dict[str, int] = {}

    def spawn(self, name: str, command: list[str], *, restart: bool = False, **popen_kwargs) -> subprocess.Popen:
        self._specs[name] = (command, popen_kwargs, restart)
        process = popen_child(command, **popen_kwargs)
        self.children = [(n, p) for n, p in self.children if n != name] + [(name, process)]
        return process

    def process(self, name: str) -> subprocess.Popen:
        return dict(self.children)[name]

    def poll_once(self) -> int | None:
        """One look at everything; None while the stack should go on, else its exit code."""
        now = self._clock()
        for name, process in list(self.children):
            if process.poll() is None:
                continue
            command, kwargs, restart = self._specs[name]
            if not restart:
                say(f"{name} exited with code {process.returncode}: stopping the stack")
                return process.returncode or 1
            due = self._restart_at.get(name)
            if due is None:
                recent = [t for t in self._crashes.get(name, []) if now - t < 60] + [now]
                self._crashes[name] = recent
                delay = min(0.5 * 2 ** (len(recent) - 1), 30.0)
                self._restart_at[name] = now + delay
                say(f"{name} exited with code {process.returncode}: restarting it in {delay:.1f}s")
            elif due <= now:
                del self._restart_at[name]
                self.spawn(name, command, restart=True, **kwargs)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                say(f"{name} restarted (pid {self.process(name).pid})")
        for service in self.stack.services if self.stack is not None else ():
            if service.running:
                continue
            if service.name in self.restart_servers:
                say(f"{service.name} server died: restarting it (its data is on disk); log {service.log_path}")
                service.start()
                continue
            say(f"{service.name} server died: stopping the stack; log {service.log_path}:\n{service.log_tail(20)}")
            return 1
        return None

    def watch(self, interval: float = 0.5) -> int:
        while True:
            rc = self.poll_once()
            if rc is not None:
                return rc
            time.sleep(interval)


SQS_MODE_ENV = {
    "CELERY_BROKER_URL": "sqs://",
    "SQS_QUEUE_PREFIX": "saas-local",
    # Locally a job killed with its container comes back after a minute, not the stage's 12.
    "SQS_VISIBILITY_TIMEOUT": "60",
}


def use_sqs_broker(cenv: dict[str, str], env: dict[str, str]) -> str:
    """Create the job queues on the moto server (``manage.py ensure_queues``) and point the stack's
    environment at them; returns the job queue's URL."""
    run_management_command("ensure_queues", {**cenv, **{k: v for k, v in SQS_MODE_ENV.items() if k != "CELERY_BROKER_URL"}})
    sqs = boto3_client("sqs", env["MOTO_ENDPOINT_URL"], env.get("AWS_DEFAULT_REGION", "us-east-1"))
    url = sqs.get_queue_url(QueueName=f"{SQS_MODE_ENV['SQS_QUEUE_PREFIX']}-jobs")["QueueUrl"]
    for target in (env, cenv):
        target.update(SQS_MODE_ENV, SQS_JOBS_QUEUE_URL=url)
    return url


DYNAMODB_DATA_DIR = STACK_DIR / "dynamodb-data"
REDIS_DATA_DIR = STACK_DIR / "redis-data"


def cmd_up(with_app: bool, broker: str = "redis", persist: bool = False) -> int:
    ports = fixed_ports()
    web_port = ports.pop("web")
    data_dir = None
    if persist:
        # On disk for the life of this stack: DynamoDB Local may crash or be restarted (fault
        # experiments) without losing data. Cleared at start, as the emulated Cognito users are new.
        shutil.rmtree(DYNAMODB_DATA_DIR, ignore_errors=True)
        data_dir = DYNAMODB_DATA_DIR
    # Redis keeps the queued jobs and the cache in an append-only file for the life of this stack
    # and is restarted when it dies (cleared at start, like DynamoDB Local's data).
    shutil.rmtree(REDIS_DATA_DIR, ignore_errors=True)
    stack = LocalStack(ports, dynamodb_path=data_dir, redis_dir=REDIS_DATA_DIR)
    install_signal_handlers()
    supervisor = Supervisor(stack, restart_servers=("redis", "dynamodb") if persist else ("redis",))
    env: dict[str, str] = {}
    rc = 0
    try:
        env = start_stack(stack)
        if with_app:
            env["STACK_WEB_PORT"] = str(web_port)
            # Slow enough that a person can watch an order move in the web app and cancel it.
            env["ORDERS_FULFILMENT_DELAY_SECONDS"] = os.environ.get("ORDERS_FULFILMENT_DELAY_SECONDS", "20")
        write_env_file(env)
        say(f"environment written to {ENV_FILE.relative_to(REPO_ROOT)} (source it in another terminal)")
        cenv = child_env(env)
        if not with_app:
            print(f"\nServers are up ({describe(stack)}). In another terminal:\n"
                  f"  source .stack/env && .venv/bin/python -m pytest\nCtrl-C stops them.\n", flush=True)
            return supervisor.watch()

        run_management_command("ensure_tables", cenv)
        # the queues: the webhook delivery queue in every mode (the job queues matter to the SQS mode)
        run_management_command("ensure_queues", cenv)
        if broker == "sqs":
            queue_url = use_sqs_broker(cenv, env)
            write_env_file(env)
        if has_management_command("seed_demo", cenv):
            run_management_command("seed_demo", cenv)
        else:
            say("note: no `seed_demo` management command (yet): skipped demo data")
        spawn = dict(env=cenv, cwd=REPO_ROOT, stdin=subprocess.DEVNULL, start_new_session=True)
        web = supervisor.spawn("web", manage("runserver", f"127.0.0.1:{web_port}", "--noreload"), **spawn)
        # Workers are restarted when they crash (as their supervisor would in production); a job
        # they held is redelivered or recovered by the sweep.
        if broker == "sqs":
            # No Celery worker: the worker stage's Zappa handler in a read-only process, fed by a
            # poller that does what Lambda's SQS event source mapping and EventBridge schedule do.
            supervisor.spawn("lambda worker (SQS poller)",
                             [sys.executable, "-m", "devstack.sqs_poller", "--queue-url", queue_url, "--stage",
                              "dev_worker"], restart=True, **spawn)
        else:
            supervisor.spawn("celery worker", [sys.executable, "-m", "celery", "-A", "saas", "worker", "-l", "info",
                                               "-c", "2"], restart=True, **spawn)
            supervisor.spawn("celery beat", [sys.executable, "-m", "celery", "-A", "saas", "beat", "-l", "info",
                                             "-s", str(STACK_DIR / "celerybeat-schedule")], restart=True, **spawn)
        if not wait_for_web(web_port, web):
            raise ServiceError(f"the web server did not answer on 127.0.0.1:{web_port}")
        print(banner(env, web_port, broker, demo_users(env)), flush=True)
        rc = supervisor.watch()
    except Signalled as sig:
        say(f"{sig}: stopping")
        rc = 0
    except ServiceError as error:
        say(str(error))
        rc = 1
    finally:
        _stop_children(supervisor.children)
        stack.stop()
        remove_env_file_if_ours(env)
        say("stopped")
    return rc


# --- token ----------------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    if not env.get("COGNITO_USER_POOL_ID"):
        if not ENV_FILE.exists():
            say("no running stack: start `python -m devstack up` (or `services`) first")
            return 1
        env.update(read_env_file())
    region = env.get("AWS_DEFAULT_REGION", "us-east-1")
    cognito = boto3_client("cognito-idp", env["COGNITO_ENDPOINT_URL"], region)
    pool_id, client_id = env["COGNITO_USER_POOL_ID"], env["COGNITO_APP_CLIENT_IDS"].split(",")[0]
    attributes = []
    if "@" in args.username:
        attributes += [{"Name": "email", "Value": args.username}, {"Name": "email_verified", "Value": "true"}]
    if args.tenant:
        attributes.append({"Name": "custom:tenant_id", "Value": args.tenant})
    try:
        cognito.admin_get_user(UserPoolId=pool_id, Username=args.username)
        if attributes:
            cognito.admin_update_user_attributes(UserPoolId=pool_id, Username=args.username, UserAttributes=attributes)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(UserPoolId=pool_id, Username=args.username, UserAttributes=attributes,
                                  MessageAction="SUPPRESS")
    cognito.admin_set_user_password(UserPoolId=pool_id, Username=args.username, Password=args.password, Permanent=True)
    if args.admin:
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=args.username, GroupName="system_admin")
    result = cognito.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                   AuthParameters={"USERNAME": args.username, "PASSWORD": args.password})
    tokens = result["AuthenticationResult"]
    print(tokens["AccessToken"] if args.access else tokens["IdToken"])
    return 0


# --- entry point ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "test":
        return cmd_test(argv[1:])  # everything after `test` (and an optional `--`) is the command
    if argv and argv[0] == "package":
        from . import lambda_package

        return lambda_package.main(argv[1:])
    if argv and argv[0] == "deploy":
        from . import deploy

        return deploy.main(argv[1:])
    if argv and argv[0] == "iam-policy":
        from . import iam

        return iam.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("test", help="run a command (default: python -m pytest) against a fresh stack")
    up = sub.add_parser("up", help="servers + tables + demo data + web + jobs, until Ctrl-C")
    up.add_argument("--broker", choices=("redis", "sqs"), default="redis",
                    help="redis: Celery worker + beat (default); sqs: the moto server's SQS and the Lambda "
                         "worker (Zappa's handler fed by a local poller), as deployed")
    up.add_argument("--persist", action="store_true",
                    help="keep DynamoDB Local's data on disk (.stack/dynamodb-data) for the life of the stack, "
                         "so a crashed or restarted DynamoDB Local loses nothing (it is restarted)")
    services = sub.add_parser("services", help="servers only (fixed ports, .stack/env), until Ctrl-C")
    services.add_argument("--persist", action="store_true", help="as for `up`")
    token = sub.add_parser("token", help="print a Cognito ID token for a user (created if missing)")
    token.add_argument("username")
    token.add_argument("--password", default="Local-Passw0rd!")
    token.add_argument("--tenant", help="value for custom:tenant_id")
    token.add_argument("--admin", action="store_true", help="add the user to the system_admin group")
    token.add_argument("--access", action="store_true", help="print the access token instead")
    args = parser.parse_args(argv)
    if args.command == "up":
        return cmd_up(with_app=True, broker=args.broker, persist=args.persist)
    if args.command == "services":
        return cmd_up(with_app=False, persist=args.persist)
    return cmd_token(args)


if __name__ == "__main__":
    sys.exit(main())
