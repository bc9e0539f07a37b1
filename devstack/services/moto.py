"""The moto server: SNS, SQS, S3, SSM, Secrets Manager and Cognito's admin API on 127.0.0.1."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from .base import Service
from .common import (
    DUMMY_AWS_ACCESS_KEY_ID,
    DUMMY_AWS_SECRET_ACCESS_KEY,
    LOOPBACK,
    REPO_ROOT,
    ServiceError,
    boto3_client,
    http_get,
    merged_no_proxy,
)


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
        env["NO_PROXY"] = env["no_proxy"] = merged_no_proxy(LOOPBACK, "localhost")
        return env

    def probe(self) -> bool:
        status, _ = http_get(f"{self.endpoint}/moto-api/", timeout=2)
        return status == 200

    def client(self, service: str, region: str = "us-east-1"):
        return boto3_client(service, self.endpoint, region)
