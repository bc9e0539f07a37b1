"""Local stack for development and tests: real servers on 127.0.0.1, started and stopped by PID.

    from devstack import LocalStack

    with LocalStack() as stack:          # DynamoDB Local, Redis, moto server, OIDC provider
        env = stack.env                  # endpoints + credentials for child processes

Single servers (``DynamoDBLocal``, ``Redis``, ``MotoServer``, ``OIDCProvider``) work the same way
(``start()`` / ``stop()`` / context manager / ``endpoint`` / ``port``). The command line is
``python -m devstack {test,up,services,token}``; see ``devstack/__main__.py``.

Only the standard library is imported here; boto3 is imported when Cognito is provisioned.
"""
from .services import (
    REPO_ROOT,
    DynamoDBLocal,
    LocalStack,
    MotoServer,
    OIDCProvider,
    Redis,
    Service,
    ServiceError,
    free_port,
    provision_cognito,
)

__all__ = [
    "REPO_ROOT",
    "DynamoDBLocal",
    "LocalStack",
    "MotoServer",
    "OIDCProvider",
    "Redis",
    "Service",
    "ServiceError",
    "free_port",
    "provision_cognito",
]
