"""``LocalStack``: every local server at once, Cognito provisioned, the environment for child processes."""
from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from .base import Service
from .cognito import provision_cognito
from .common import (
    DEFAULT_OIDC_CLIENT_ID,
    DEFAULT_OIDC_CLIENT_SECRET,
    DUMMY_AWS_ACCESS_KEY_ID,
    DUMMY_AWS_SECRET_ACCESS_KEY,
    LOOPBACK,
    ServiceError,
    free_ports,
    merged_no_proxy,
)
from .dynamodb import DynamoDBLocal
from .moto import MotoServer
from .oidc import OIDCProvider
from .redis import Redis

LOCAL_EMAIL_SENDER = "no-reply@saas-commerce.example"  # verified in moto's SES at start


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
        dynamodb_path: str | Path | None = None,
        redis_dir: str | Path | None = None,
    ) -> None:
        ports = dict(ports or {})
        unknown = set(ports) - {"dynamodb", "redis", "moto", "oidc"}
        if unknown:
            raise ValueError(f"unknown services in ports: {sorted(unknown)}")
        self.region = region
        self.dynamodb = DynamoDBLocal(ports.get("dynamodb"), region=region, log_dir=log_dir, db_path=dynamodb_path)
        self.redis = Redis(ports.get("redis"), log_dir=log_dir, data_dir=redis_dir)
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
            for service, port in zip(automatic, free_ports(len(automatic)), strict=True):
                service.port = port
            self.oidc.cognito_endpoint = self.moto.endpoint  # sign-in reads people from the pool, as in AWS
            self.oidc.email_sender = LOCAL_EMAIL_SENDER  # sign-up sends its codes through moto's SES
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
                # SES (and moto's SES) refuses to send from an address that is not a verified
                # identity; in AWS the sender's domain is verified through DNS, here we verify it.
                self.moto.client("ses", self.region).verify_email_identity(EmailAddress=LOCAL_EMAIL_SENDER)

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
            "DEFAULT_FROM_EMAIL": LOCAL_EMAIL_SENDER,
            "CELERY_BROKER_URL": self.redis.url(0),
            "REDIS_URL": self.redis.url(0),
            **self.cognito,
            **self.oidc.env(),
            "STACK_DYNAMODB_PORT": str(self.dynamodb.port),
            "STACK_REDIS_PORT": str(self.redis.port),
            "STACK_MOTO_PORT": str(self.moto.port),
            "STACK_OIDC_PORT": str(self.oidc.port),
            # Loopback never goes through a proxy, whatever the caller's environment says.
            "NO_PROXY": merged_no_proxy(LOOPBACK, "localhost"),
            "no_proxy": merged_no_proxy(LOOPBACK, "localhost"),
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
