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

The package is split by server: ``common`` (paths, ports, processes), ``base`` (``Service``),
``dynamodb``, ``redis``, ``moto``, ``oidc``, ``cognito`` (the user pool on moto) and ``stack``
(``LocalStack``). Import from here.
"""
from __future__ import annotations

from .base import Service
from .cognito import provision_cognito
from .common import (
    BUILD_DIR,
    DEFAULT_OIDC_CLIENT_ID,
    DEFAULT_OIDC_CLIENT_SECRET,
    DUMMY_AWS_ACCESS_KEY_ID,
    DUMMY_AWS_SECRET_ACCESS_KEY,
    LOG_DIR,
    LOOPBACK,
    REPO_ROOT,
    STACK_DIR,
    ServiceError,
    boto3_client,
    descendants,
    free_port,
    free_ports,
    http_get,
    popen_child,
    port_is_free,
    stop_process,
    tail,
    tcp_open,
)
from .dynamodb import DynamoDBLocal, dynamodb_local_lib_dir, ensure_dynamodb_launcher
from .moto import MotoServer
from .oidc import OIDCProvider
from .redis import Redis
from .stack import LocalStack

__all__ = [
    "BUILD_DIR", "DEFAULT_OIDC_CLIENT_ID", "DEFAULT_OIDC_CLIENT_SECRET", "DUMMY_AWS_ACCESS_KEY_ID",
    "DUMMY_AWS_SECRET_ACCESS_KEY", "LOG_DIR", "LOOPBACK", "REPO_ROOT", "STACK_DIR", "ServiceError", "boto3_client",
    "descendants", "free_port", "free_ports", "http_get", "popen_child", "port_is_free", "stop_process", "tail", "tcp_open",
    "Service", "provision_cognito", "DynamoDBLocal", "dynamodb_local_lib_dir", "ensure_dynamodb_launcher",
    "MotoServer", "OIDCProvider", "Redis", "LocalStack",
]
