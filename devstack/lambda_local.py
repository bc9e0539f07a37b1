"""Run the built Lambda package through Zappa's real handler, locally, the way Lambda would.

The package (``devstack.lambda_package``, unzipped) is the only thing on ``sys.path``: a fresh
interpreter started with ``-S`` (no site-packages of this machine) imports the function's ``Handler``
exactly as Zappa configures it (``configured_handler``: ``module.function``, what Lambda's runtime
imports) from it and calls it with API Gateway proxy events. On Linux, the process runs in a private
mount namespace where every filesystem is read-only except /tmp, as on Lambda.
"""
from __future__ import annotations

import ast
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parent.parent
API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"

_INVOKE = r"""
import importlib, json, sys, time
started = time.perf_counter()
sys.path.insert(0, sys.argv[1])  # /var/task: the package, nothing else (the interpreter runs with -S)
module_name, _, function_name = sys.argv[3].rpartition(".")  # the Handler, as Lambda's runtime reads it
lambda_handler = getattr(importlib.import_module(module_name), function_name)

class Context:
    function_name = "saas-commerce-local"
    memory_limit_in_mb = 1024
    def __init__(self, request_id):
        self.aws_request_id = request_id
    def get_remaining_time_in_millis(self):
        return 30000

results = []
for event, request_id in json.loads(sys.argv[2]):
    response = lambda_handler(event, Context(request_id))
    results.append({"response": response, "aws_request_id": request_id,
                    "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time()})
print("LAMBDA_RESULT " + json.dumps(results), flush=True)
"""


def api_gateway_event(path: str, method: str = "GET", headers: dict | None = None, body: str | None = None) -> dict:
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": {"Host": API_HOST, "X-Forwarded-Proto": "https",
                    "X-Forwarded-Port": "443", **(headers or {})},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None, "body": body,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/dev{path}",
                           "stage": "dev", "requestId": "local", "identity": {"sourceIp": "127.0.0.1"}},
    }


def write_settings(stage: str, out_dir: Path, *, environment: dict[str, str] | None = None,
                   sqs_event_source_arn: str | None = None, base: Path | None = None) -> Path:
    """Zappa's own settings module for ``stage`` (or a copy of ``base``, one generated before).

    Locally the stage's AWS resources do not exist, so ``environment`` replaces some of the stage's
    environment variables (table, queue URL...) and ``sqs_event_source_arn`` re-points the stage's
    SQS event source (``AWS_EVENT_MAPPING``, which Zappa's handler uses to pick the function for an
    SQS record) at a local queue."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "zappa_settings.py"
    if base is not None:
        shutil.copyfile(base, target)
    else:
        subprocess.run([str(Path(sys.executable).parent / "zappa"), "save-python-settings-file", stage, "-o",
                        str(target)], cwd=ROOT, check=True, capture_output=True, timeout=60)
    extra = []
    if environment:
        extra.append(f"ENVIRONMENT_VARIABLES.update({environment!r})")
    if sqs_event_source_arn:
        mapping = _generated_event_mapping(target)
        # the job queue's function (the webhook delivery queue's has its own source, not emulated here)
        functions = [f for arn, fs in mapping.items() if arn.startswith("arn:aws:sqs:") and arn.endswith("-jobs")
                     for f in fs]
        if not functions:
            raise ValueError(f"stage {stage!r} has no SQS event source in zappa_settings.json")
        extra.append(f"AWS_EVENT_MAPPING = {{{sqs_event_source_arn!r}: {functions!r}}}")
    if extra:
        with target.open("a") as f:
            f.write("\n# devstack.lambda_local: local resources instead of the stage's AWS ones\n" + "\n".join(extra) + "\n")
    return target


def _generated_event_mapping(settings_file: Path) -> dict[str, list[str]]:
    for line in settings_file.read_text().splitlines():
        if line.startswith("AWS_EVENT_MAPPING="):
            return ast.literal_eval(line.split("=", 1)[1])
    return {}


def read_only_prefix() -> list[str]:
    """unshare + remount / read-only, /tmp kept writable (Lambda's only writable path)."""
    if sys.platform != "linux" or not shutil.which("unshare"):
        raise RuntimeError("the read-only Lambda sandbox needs Linux unshare (util-linux)")
    script = ('mount --make-rprivate / && mount --bind /tmp /tmp && mount -o remount,ro,bind / '
              '&& exec "$@"')
    return ["unshare", "--mount", "sh", "-c", script, "sh"]


def configured_handler(stage: str) -> str:
    """The function's ``Handler`` as Zappa sets it when it creates or updates the stage's function:
    ``ZappaCLI.load_settings`` reads ``lambda_handler`` (default ``handler.lambda_handler``) and passes
    it to ``create_lambda_function`` / ``update_lambda_configuration`` unchanged."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_settings(str(ROOT / "zappa_settings.json"))
    return cli.lambda_handler


def invoke_many(events: list[dict], *, task_root: Path, env: dict, handler: str, read_only: bool = True,
                timeout: float = 90, python_args: tuple[str, ...] = ()) -> dict:
    """One cold Lambda container in a new process serving ``events`` in turn through ``handler``
    (``module.function``, imported from the package as Lambda would): the first one pays the cold
    start. Returns {"results": [{"response", "aws_request_id", "seconds"}], "wall_seconds", "stderr"}."""
    calls = [[event, uuid.uuid4().hex] for event in events]
    command = [sys.executable, "-S", *python_args, "-c", _INVOKE, str(task_root), json.dumps(calls), handler]
    if read_only:
        command = read_only_prefix() + command
    started = time.perf_counter()
    result = subprocess.run(command, env={**env, "LAMBDA_TASK_ROOT": str(task_root), "PYTHONDONTWRITEBYTECODE": "1"},
                            capture_output=True, text=True, timeout=timeout, cwd=task_root)
    wall = time.perf_counter() - started
    for line in result.stdout.splitlines():
        if line.startswith("LAMBDA_RESULT "):
            return {"results": json.loads(line[len("LAMBDA_RESULT "):]), "wall_seconds": wall,
                    "stderr": result.stderr, "stdout": result.stdout}
    raise LambdaStartFailed(f"handler produced no result (exit {result.returncode}):\n{result.stderr[-4000:]}",
                            stderr=result.stderr)


def invoke(event: dict, **kwargs) -> dict:
    """One cold invocation: {"response", "aws_request_id", "seconds", "wall_seconds", "stderr"}."""
    outcome = invoke_many([event], **kwargs)
    return {**outcome["results"][0], "wall_seconds": outcome["wall_seconds"], "stderr": outcome["stderr"]}


class LambdaStartFailed(RuntimeError):
    def __init__(self, message: str, *, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


def lambda_env(**overrides: str) -> dict:
    """The environment a Lambda would have: no local-stack flag, real-looking AWS variables."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    return {**keep, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "saas-commerce-local", "HOME": "/tmp", **overrides}


# --- a warm Lambda container: one process, many invocations -----------------------------------------
_WARM = r"""
import importlib, json, sys, time
sys.path[:0] = [sys.argv[1], sys.argv[2]]
module_name, _, function_name = sys.argv[4].rpartition(".")  # the Handler, as Lambda's runtime reads it
lambda_handler = getattr(importlib.import_module(module_name), function_name)
out = sys.stdout
sys.stdout = sys.stderr  # the handler's prints must not mix with our result lines


class Context:
    function_name = sys.argv[3]
    memory_limit_in_mb = 1024

    def __init__(self, request_id, timeout):
        self.aws_request_id = request_id
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


out.write("LAMBDA_READY\n")
out.flush()
for line in sys.stdin:
    request = json.loads(line)
    started = time.perf_counter()
    try:
        result = {"response": lambda_handler(request["event"], Context(request["id"], request["timeout"]))}
    except Exception as exc:  # Lambda: the invocation failed (an SQS batch comes back whole)
        result = {"error": f"{type(exc).__name__}: {exc}"}
    result["seconds"] = time.perf_counter() - started
    out.write("LAMBDA_RESULT " + json.dumps(result, default=str) + "\n")
    out.flush()
"""


class WarmLambda:
    """Zappa's real handler in a long-lived process (a warm Lambda container), on the read-only
    filesystem: ``invoke`` sends it one event at a time. ``kill()`` is a container dying mid-batch."""

    def __init__(self, *, settings_dir: Path, env: dict, handler: str, function_name: str = "saas-commerce-local-worker",
                 timeout: float = 120.0, read_only: bool = True, log_path: Path | None = None):
        self.settings_dir, self.env, self.handler, self.function_name = settings_dir, env, handler, function_name
        self.timeout, self.read_only, self.log_path = timeout, read_only, log_path
        self.process: subprocess.Popen | None = None
        self.invocations = 0

    def start(self, ready_timeout: float = 60.0) -> "WarmLambda":
        command = [sys.executable, "-c", _WARM, str(self.settings_dir), str(ROOT), self.function_name, self.handler]
        if self.read_only:
            command = read_only_prefix() + command
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(command, env={**self.env, "PYTHONDONTWRITEBYTECODE": "1"}, cwd="/tmp",
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                        start_new_session=True)
        if not isinstance(log, int):  # a file of ours, not subprocess.DEVNULL
            log.close()
        line = self._read_line(ready_timeout)
        if line != "LAMBDA_READY":
            self.stop()
            raise RuntimeError(f"the Lambda process did not start: {line!r}")
        return self

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def invoke(self, event: dict) -> dict:
        """{"response": ...} or {"error": ...}, plus "seconds". Raises RuntimeError if the process died."""
        self.invocations += 1
        request = {"id": f"local-{self.invocations}", "timeout": self.timeout, "event": event}
        stdin = self._process().stdin
        assert stdin is not None  # started with stdin=PIPE
        stdin.write(json.dumps(request) + "\n")
        stdin.flush()
        while True:
            line = self._read_line(self.timeout + 30)
            if line.startswith("LAMBDA_RESULT "):
                return json.loads(line[len("LAMBDA_RESULT "):])

    def _process(self) -> subprocess.Popen:
        if self.process is None:
            raise RuntimeError("the Lambda process was not started")
        return self.process

    def _read_line(self, timeout: float) -> str:
        import selectors

        process = self._process()
        assert process.stdout is not None  # started with stdout=PIPE
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout):
                raise RuntimeError(f"no answer from the Lambda process in {timeout}s")
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Lambda process exited (code {process.wait(10)})")
        return line.rstrip("\n")

    def kill(self) -> None:
        """SIGKILL by PID, like a container that dies: nothing it was doing is reported."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None



def stage_environment_variables(stage: str) -> dict[str, str]:
    """The stage's environment_variables as Zappa merges them (``extends``)."""
    config = json.loads((ROOT / "zappa_settings.json").read_text())
    chain, current = [], stage
    while current:
        chain.append(config[current])
        current = config[current].get("extends")
    merged: dict[str, str] = {}
    for part in reversed(chain):
        merged.update(part.get("environment_variables", {}))
    return merged


def publish_stage_configuration(stage: str, *, ssm, secretsmanager, env: Mapping[str, str] | None = None) -> None:
    """What an operator puts into SSM / Secrets Manager for ``stage`` (every ``ssm:`` /
    ``secretsmanager:`` reference of its environment), here with the local stack's values: local
    runs and tests of a stage resolve its references exactly as the function does in AWS."""
    env = env or os.environ
    local_values = {
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "OIDC_RP_CLIENT_SECRET": secrets.token_urlsafe(20),
        "DJANGO_ALLOWED_HOSTS": f"{API_HOST},127.0.0.1,localhost",
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{API_HOST}",
        "COGNITO_USER_POOL_ID": env.get("COGNITO_USER_POOL_ID", ""),
        "COGNITO_APP_CLIENT_IDS": env.get("COGNITO_APP_CLIENT_IDS", ""),
        "COGNITO_DOMAIN": f"https://{stage.replace('_', '-')}-login.auth.us-east-1.amazoncognito.com",
        "OIDC_RP_CLIENT_ID": "web-client",
        # In AWS the stack's outputs (deploy/stack.yaml); here the stage's names on the moto server.
        "S3_BUCKET": env.get("S3_BUCKET") or "saas-local-files",
        "SQS_JOBS_QUEUE_URL": env.get("SQS_JOBS_QUEUE_URL") or (
            f"https://sqs.us-east-1.amazonaws.com/123456789012/"
            f"{stage_environment_variables(stage).get('SQS_QUEUE_PREFIX', 'saas-local')}-jobs"),
    }
    secret_fields: dict[str, dict[str, str]] = {}
    for name, reference in stage_environment_variables(stage).items():
        if not isinstance(reference, str) or not reference.startswith(("ssm:", "secretsmanager:")):
            continue
        if name not in local_values:
            raise KeyError(f"no local value for {name} ({reference}): add one to publish_stage_configuration")
        if reference.startswith("ssm:"):
            ssm.put_parameter(Name=reference[4:], Value=local_values[name], Type="SecureString", Overwrite=True)
        else:
            secret_id, _, key = reference[len("secretsmanager:"):].partition("#")
            secret_fields.setdefault(secret_id, {})[key] = local_values[name]
    for secret_id, fields in secret_fields.items():
        text = fields[""] if set(fields) == {""} else json.dumps(fields)
        try:
            secretsmanager.create_secret(Name=secret_id, SecretString=text)
        except secretsmanager.exceptions.ResourceExistsException:
            secretsmanager.put_secret_value(SecretId=secret_id, SecretString=text)
    # The audit chain key (audit.chain) is read by name at run time: the stage's functions append to
    # the same trails as the local stack's processes, so they get the same key.
    local_key = f"{env.get('CONFIG_SECRET_PREFIX', 'saas-commerce/local/')}audit-chain-key"
    stage_key = f"{stage_environment_variables(stage).get('CONFIG_SECRET_PREFIX', '')}audit-chain-key"
    try:
        key = secretsmanager.get_secret_value(SecretId=local_key)["SecretString"]
    except secretsmanager.exceptions.ResourceNotFoundException:
        key = secrets.token_hex(32)
        secretsmanager.create_secret(Name=local_key, SecretString=key)
    if stage_key != local_key:
        try:
            secretsmanager.create_secret(Name=stage_key, SecretString=key)
        except secretsmanager.exceptions.ResourceExistsException:
            secretsmanager.put_secret_value(SecretId=stage_key, SecretString=key)


def local_endpoints(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A Lambda-like environment plus only the local endpoints (the stage's own variables are in the
    package's zappa_settings.py)."""
    env = env or os.environ
    return lambda_env(
        DYNAMODB_ENDPOINT_URL=env["DYNAMODB_ENDPOINT_URL"], MOTO_ENDPOINT_URL=env["MOTO_ENDPOINT_URL"],
        COGNITO_JWKS_URL=env["COGNITO_JWKS_URL"],  # the local pool's keys (in AWS: derived from the pool id)
        AWS_ACCESS_KEY_ID="local", AWS_SECRET_ACCESS_KEY="local", AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
