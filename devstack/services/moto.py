"""The moto server: SNS, SQS, S3, SSM, Secrets Manager and Cognito's admin API on 127.0.0.1."""
from __future__ import annotations

import os
import sys

from .base import Service
from .common import (
    DUMMY_AWS_ACCESS_KEY_ID,
    DUMMY_AWS_SECRET_ACCESS_KEY,
    LOOPBACK,
    REPO_ROOT,
    boto3_client,
    http_get,
    merged_no_proxy,
)


class MotoServer(Service):
    """moto 5 in server mode (``python -m devstack.moto_server -H 127.0.0.1 -p P``: moto's own server
    with Cognito's email-verification rule modelled as AWS applies it, see that module). Readiness:
    GET /moto-api/ -> 200.

    Serves every emulated AWS service on one endpoint; Cognito's JWKS is at
    ``{endpoint}/{user_pool_id}/.well-known/jwks.json``.
    """

    name = "moto"
    startup_timeout = 45.0

    def command(self) -> list[str]:
        return [sys.executable, "-m", "devstack.moto_server", "-H", LOOPBACK, "-p", str(self.port)]

    def process_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.setdefault("AWS_ACCESS_KEY_ID", DUMMY_AWS_ACCESS_KEY_ID)
        env.setdefault("AWS_SECRET_ACCESS_KEY", DUMMY_AWS_SECRET_ACCESS_KEY)
        # SNS delivers to http subscribers with requests: loopback must not go through a proxy.
        env["NO_PROXY"] = env["no_proxy"] = merged_no_proxy(LOOPBACK, "localhost")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
        return env

    def probe(self) -> bool:
        status, _ = http_get(f"{self.endpoint}/moto-api/", timeout=2)
        return status == 200

    def client(self, service: str, region: str = "us-east-1"):
        return boto3_client(service, self.endpoint, region)
