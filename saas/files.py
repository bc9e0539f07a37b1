"""Tenant files on S3 through django-storages (``STORAGES["default"]``), every key under the
tenant's prefix ``tenants/<tenant>/...`` built by ``saas.tenancy.keys.storage_key`` from the
context — never taken from input.

* ``presigned_post``: the browser uploads straight to S3. The policy pins the exact key, a size
  range and a content-type prefix, and expires in minutes, so the holder of the form can write that
  one object and nothing else (S3 enforces the policy; the moto server used locally does not, so
  ``inspect_upload`` re-checks size and content by itself before anything is attached).
* ``presigned_get``: short-lived read links (``FILES_GET_EXPIRE_SECONDS``) from the storage's
  ``url()`` with ``querystring_auth``.
* Every function that takes a key first checks it is under the current tenant's prefix, so a key
  of another tenant is "not found" here even if one ever reached this module.
* Uploads not yet attached live under ``uploads/<tenant>/`` (``UPLOADS_PREFIX``), apart from the
  files that are kept: attaching *copies* a checked upload to its own key under ``tenants/<tenant>/``
  and deletes the upload, so a form that is still valid can only ever write a new pending upload,
  never the attached file. Pending uploads are counted (``pending_upload_bytes``, Settings -> Usage)
  and expired by the bucket's lifecycle rule on ``UPLOADS_PREFIX`` (``UPLOADS_EXPIRE_DAYS``, the
  smallest period S3 lifecycle rules offer); offboarding deletes both prefixes.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import storages

from saas.tenancy.context import get_context, validate_tenant_id
from saas.tenancy.keys import STORAGE_ROOT, UPLOADS_ROOT, storage_key
from saas.tenancy.store import DoesNotExist

logger = logging.getLogger("saas.files")

# Magic numbers of the image formats we accept: the declared Content-Type is the client's word,
# the first bytes are the file's.
IMAGE_SIGNATURES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),  # + "WEBP" at offset 8, checked below
}


def storage():
    return storages["default"]


def s3_client() -> Any:
    return storage().connection.meta.client


def bucket_name() -> str:
    return storage().bucket_name


UPLOADS_PREFIX = f"{UPLOADS_ROOT}/"  # the bucket lifecycle rule's prefix (deploy: expire after UPLOADS_EXPIRE_DAYS)
UPLOADS_EXPIRE_DAYS = 1
LIFECYCLE_RULE_ID = "expire-unattached-uploads"


def tenant_prefix(tenant_id: str | None = None, *, root: str = STORAGE_ROOT) -> str:
    if tenant_id is not None:
        return f"{root}/{validate_tenant_id(tenant_id)}/"
    return storage_key(root=root) + "/"


def _own(key: str) -> str:
    """``key`` if it lies under one of the current tenant's prefixes; otherwise it does not exist for us."""
    prefixes = (tenant_prefix(), tenant_prefix(root=UPLOADS_ROOT))
    if not isinstance(key, str) or not key.startswith(prefixes) or ".." in key:
        raise DoesNotExist("file not found")
    return key


def presigned_post(*, key: str, max_bytes: int, content_type_prefix: str = "", expires_in: int | None = None,
                   redirect: str | None = None) -> dict:
    """Form fields + URL for one browser upload to exactly ``key`` (``{"url", "fields"}``)."""
    _own(key)
    expires_in = expires_in or settings.FILES_UPLOAD_EXPIRE_SECONDS
    fields: dict[str, str] = {}
    conditions: list = [["content-length-range", 1, int(max_bytes)]]
    if content_type_prefix:
        conditions.append(["starts-with", "$Content-Type", content_type_prefix])
    if redirect:
        fields["success_action_redirect"] = redirect
        conditions.append({"success_action_redirect": redirect})
    else:
        fields["success_action_status"] = "201"
        conditions.append({"success_action_status": "201"})
    return s3_client().generate_presigned_post(Bucket=bucket_name(), Key=key, Fields=fields, Conditions=conditions,
                                               ExpiresIn=int(expires_in))


def presigned_get(key: str, *, expires_in: int | None = None, filename: str | None = None,
                  content_type: str | None = None) -> str:
    """``content_type``: served as (the type we checked, not what the uploader declared)."""
    _own(key)
    params: dict[str, str] = {}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    if content_type:
        params["ResponseContentType"] = content_type
    return storage().url(key, parameters=params or None, expire=expires_in or settings.FILES_GET_EXPIRE_SECONDS)


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    content_type: str | None


def head(key: str) -> StoredObject | None:
    _own(key)
    try:
        meta = s3_client().head_object(Bucket=bucket_name(), Key=key)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return StoredObject(key=key, size=int(meta["ContentLength"]), content_type=meta.get("ContentType"))


def first_bytes(key: str, count: int = 16) -> bytes:
    _own(key)
    body = s3_client().get_object(Bucket=bucket_name(), Key=key, Range=f"bytes=0-{count - 1}")["Body"]
    try:
        return body.read()
    finally:
        body.close()


def sniff_image(data: bytes) -> str | None:
    for content_type, signatures in IMAGE_SIGNATURES.items():
        if any(data.startswith(sig) for sig in signatures):
            if content_type == "image/webp" and data[8:12] != b"WEBP":
                continue
            return content_type
    return None


def delete(key: str) -> None:
    storage().delete(_own(key))


def copy(source: str, destination: str, *, content_type: str) -> None:
    """Server-side copy within the bucket (both keys the tenant's), stored with ``content_type``."""
    _own(source), _own(destination)
    s3_client().copy_object(Bucket=bucket_name(), Key=destination, CopySource={"Bucket": bucket_name(), "Key": source},
                            ContentType=content_type, MetadataDirective="REPLACE")


def pending_upload_bytes(tenant_id: str | None = None) -> int:
    """Bytes of the tenant's uploads that were never attached (they expire by the lifecycle rule)."""
    prefix = tenant_prefix(tenant_id, root=UPLOADS_ROOT) if tenant_id else tenant_prefix(root=UPLOADS_ROOT)
    return _bytes_under(prefix)


def save(key: str, content, *, content_type: str | None = None) -> int:
    """Write a file (a django File / file-like) to exactly ``key``; returns its size."""
    _own(key)
    extra = {"ContentType": content_type} if content_type else {}
    s3_client().upload_fileobj(content, bucket_name(), key, ExtraArgs=extra or None)
    stored = head(key)
    if stored is None:  # deleted again between the upload and this read
        raise FileNotFoundError(f"{key} is gone right after its upload")
    return stored.size


def delete_prefix(tenant_id: str) -> int:
    """Delete every object under a tenant's prefix (offboarding; the caller is platform code).
    Returns the number of objects deleted. Resumable: it lists what is left each time."""
    client, bucket, deleted = s3_client(), bucket_name(), 0
    for prefix in (tenant_prefix(tenant_id), tenant_prefix(tenant_id, root=UPLOADS_ROOT)):
        while True:
            listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
            keys = [{"Key": obj["Key"]} for obj in listing.get("Contents", [])]
            if not keys:
                break
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted


def _bytes_under(prefix: str) -> int:
    total = 0
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket_name(), Prefix=prefix):
        total += sum(obj["Size"] for obj in page.get("Contents", []))
    return total


def prefix_bytes(tenant_id: str) -> int:
    """Bytes stored for a tenant now, pending uploads included (every object listed, 1,000 a page)."""
    return _bytes_under(tenant_prefix(tenant_id)) + _bytes_under(tenant_prefix(tenant_id, root=UPLOADS_ROOT))


def count_prefix(tenant_id: str) -> int:
    return sum(int(s3_client().list_objects_v2(Bucket=bucket_name(), Prefix=prefix, MaxKeys=1000).get("KeyCount", 0))
               for prefix in (tenant_prefix(tenant_id), tenant_prefix(tenant_id, root=UPLOADS_ROOT)))


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


def current_tenant() -> str:
    return get_context().tenant_id
