"""AWS clients: region, the endpoints of the local servers (unset in AWS), timeouts and retries."""
from __future__ import annotations

import os

from saas.settings.base import LOCAL_STACK
from saas.settings.environment import env

AWS_REGION = env("AWS_REGION", env("AWS_DEFAULT_REGION", "us-east-1"))
AWS_ENDPOINT_URLS = {
    "dynamodb": env("DYNAMODB_ENDPOINT_URL"),
    "sns": env("SNS_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "sqs": env("SQS_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "s3": env("S3_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "ssm": env("SSM_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "secretsmanager": env("SECRETSMANAGER_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "cognito-idp": env("COGNITO_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "lambda": env("LAMBDA_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
    "ses": env("SES_ENDPOINT_URL", env("MOTO_ENDPOINT_URL")),
}
# A frozen dependency must cost a request well under API Gateway's 29 s (target: < 10 s in all): a
# call is at most AWS_MAX_ATTEMPTS x AWS_READ_TIMEOUT plus one back-off (standard mode, < 1 s), i.e.
# ~5 s; a DynamoDB call normally answers in milliseconds. Measured in tests/outages/test_frozen_aws.py.
AWS_CONNECT_TIMEOUT = float(env("AWS_CONNECT_TIMEOUT", "2"))
AWS_READ_TIMEOUT = float(env("AWS_READ_TIMEOUT", "2"))
AWS_MAX_ATTEMPTS = int(env("AWS_MAX_ATTEMPTS", "2"))
if LOCAL_STACK:
    # Dummy credentials for local servers only; in AWS the Lambda role provides real ones.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "local")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "local")
