"""The files bucket: its storage (django-storages, ``STORAGES["default"]``), its S3 client and name,
and the lifecycle rule it must carry. ``manage.py ensure_tables`` creates it on local stacks
(``FILES_ENSURE_BUCKET``); in AWS the bucket and the rule are infrastructure (deploy/stack.yaml).
What goes into it, under which tenant's prefix, is the ``files`` feature's business."""
from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import storages

from saas.tenancy.keys import UPLOADS_ROOT


def storage():
    return storages["default"]


def s3_client() -> Any:
    return storage().connection.meta.client


def bucket_name() -> str:
    return storage().bucket_name


UPLOADS_PREFIX = f"{UPLOADS_ROOT}/"  # the bucket lifecycle rule's prefix (deploy: expire after UPLOADS_EXPIRE_DAYS)
UPLOADS_EXPIRE_DAYS = 1
LIFECYCLE_RULE_ID = "expire-unattached-uploads"


def lifecycle_rules() -> list[dict]:
    """The bucket lifecycle the deployment must have (the CloudFormation template declares the same
    rule; ``ensure_bucket`` puts it on local buckets)."""
    return [{"ID": LIFECYCLE_RULE_ID, "Status": "Enabled", "Filter": {"Prefix": UPLOADS_PREFIX},
             "Expiration": {"Days": UPLOADS_EXPIRE_DAYS},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": UPLOADS_EXPIRE_DAYS}}]


def ensure_bucket() -> str:
    """Create the files bucket if missing, with its lifecycle rule (local stacks; in AWS the bucket
    and the rule are infrastructure)."""
    client, bucket = s3_client(), bucket_name()
    try:
        client.head_bucket(Bucket=bucket)
        outcome = f"bucket {bucket} is up to date"
    except ClientError:
        kwargs = {}
        if settings.AWS_REGION != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.AWS_REGION}
        client.create_bucket(Bucket=bucket, **kwargs)
        outcome = f"created bucket {bucket}"
    client.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle_rules()})
    return f"{outcome} (lifecycle: {UPLOADS_PREFIX} expires after {UPLOADS_EXPIRE_DAYS} day)"
