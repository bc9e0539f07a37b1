"""Run the app through Zappa's real Lambda handler, locally, the way Lambda would.

``zappa save-python-settings-file <stage>`` generates the same ``zappa_settings.py`` that Zappa
puts into the deployment package; a fresh Python process then imports ``zappa.handler`` and calls
``lambda_handler`` with an API Gateway proxy event. On Linux, the process runs in a private mount
namespace where every filesystem is read-only except /tmp, as on Lambda.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_INVOKE = r"""
import json, sys, time
started = time.perf_counter()
sys.path[:0] = [sys.argv[1], sys.argv[2]]
from zappa.handler import lambda_handler

class Context:
    function_name = "saas-commerce-local"
    aws_request_id = "local-request"
    memory_limit_in_mb = 1024
    def get_remaining_time_in_millis(self):
        return 30000

event = json.loads(sys.argv[3])
response = lambda_handler(event, Context())
print("LAMBDA_RESULT " + json.dumps({"response": response, "seconds": time.perf_counter() - started}))
"""


def api_gateway_event(path: str, method: str = "GET", headers: dict | None = None) -> dict:
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https",
                    "X-Forwarded-Port": "443", **(headers or {})},
        "multiValueHeaders": {}, "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None, "body": None,
        "isBase64Encoded": False,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/dev{path}",
                           "stage": "dev", "requestId": "local", "identity": {"sourceIp": "127.0.0.1"}},
    }


def write_settings(stage: str, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "zappa_settings.py"
    subprocess.run([str(Path(sys.executable).parent / "zappa"), "save-python-settings-file", stage, "-o", str(target)],
                   cwd=ROOT, check=True, capture_output=True, timeout=60)
    return target


def read_only_prefix() -> list[str]:
    """unshare + remount / read-only, /tmp kept writable (Lambda's only writable path)."""
    if sys.platform != "linux" or not shutil.which("unshare"):
        raise RuntimeError("the read-only Lambda sandbox needs Linux unshare (util-linux)")
    script = ('mount --make-rprivate / && mount --bind /tmp /tmp && mount -o remount,ro,bind / '
              '&& exec "$@"')
    return ["unshare", "--mount", "sh", "-c", script, "sh"]


def invoke(event: dict, *, settings_dir: Path, env: dict, read_only: bool = True, timeout: float = 60) -> dict:
    """One cold Lambda invocation in a new process; returns {"response", "seconds", "wall_seconds"}."""
    command = [sys.executable, "-c", _INVOKE, str(settings_dir), str(ROOT), json.dumps(event)]
    if read_only:
        command = read_only_prefix() + command
    started = time.perf_counter()
    result = subprocess.run(command, env={**env, "PYTHONDONTWRITEBYTECODE": "1"}, capture_output=True,
                            text=True, timeout=timeout, cwd="/tmp")
    wall = time.perf_counter() - started
    for line in result.stdout.splitlines():
        if line.startswith("LAMBDA_RESULT "):
            return {**json.loads(line[len("LAMBDA_RESULT "):]), "wall_seconds": wall, "stderr": result.stderr}
    raise RuntimeError(f"handler produced no result (exit {result.returncode}):\n{result.stderr[-3000:]}")


def lambda_env(**overrides: str) -> dict:
    """The environment a Lambda would have: no local-stack flag, real-looking AWS variables."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL")}
    return {**keep, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_LAMBDA_FUNCTION_NAME": "saas-commerce-local", "HOME": "/tmp", **overrides}
