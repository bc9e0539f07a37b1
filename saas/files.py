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
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import storages

from saas.tenancy.context import get_context, validate_tenant_id
from saas.tenancy.keys import storage_key
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


def s3_client():
    return storage().connection.meta.client


def bucket_name() -> str:
    return storage().bucket_name


def tenant_prefix(tenant_id: str | None = None) -> str:
    if tenant_id is not None:
        return f"tenants/{validate_tenant_id(tenant_id)}/"
    return storage_key() + "/"


def _own(key: str) -> str:
    """``key`` if it lies under the current tenant's prefix; otherwise it does not exist for us."""
    prefix = tenant_prefix()
    if not isinstance(key, str) or not key.startswith(prefix) or ".." in key:
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
    params = {}
    if filename:
        params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
    if content_type:
        params["ResponseContentType"] = content_type
    params = params or None
    return storage().url(key, parameters=params, expire=expires_in or settings.FILES_GET_EXPIRE_SECONDS)


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


def save(key: str, content, *, content_type: str | None = None) -> int:
    """Write a file (a django File / file-like) to exactly ``key``; returns its size."""
    _own(key)
    extra = {"ContentType": content_type} if content_type else {}
    s3_client().upload_fileobj(content, bucket_name(), key, ExtraArgs=extra or None)
    return head(key).size


def delete_prefix(tenant_id: str) -> int:
    """Delete every object under a tenant's prefix (offboarding; the caller is platform code).
    Returns the number of objects deleted. Resumable: it lists what is left each time."""
    prefix = tenant_prefix(tenant_id)
    client, bucket, deleted = s3_client(), bucket_name(), 0
    while True:
        listing = client.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1000)
        keys = [{"Key": obj["Key"]} for obj in listing.get("Contents", [])]
        if not keys:
            return deleted
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        deleted += len(keys)


def prefix_bytes(tenant_id: str) -> int:
    """Bytes stored under a tenant's prefix now (every object listed, 1,000 a page)."""
    total = 0
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket_name(), Prefix=tenant_prefix(tenant_id)):
        total += sum(obj["Size"] for obj in page.get("Contents", []))
    return total


def count_prefix(tenant_id: str) -> int:
    listing = s3_client().list_objects_v2(Bucket=bucket_name(), Prefix=tenant_prefix(tenant_id), MaxKeys=1000)
    return int(listing.get("KeyCount", 0))


def ensure_bucket() -> str:
    """Create the files bucket if missing (local stacks; in AWS the bucket is infrastructure)."""
    client, bucket = s3_client(), bucket_name()
    try:
        client.head_bucket(Bucket=bucket)
        return f"bucket {bucket} is up to date"
    except ClientError:
        kwargs = {}
        if settings.AWS_REGION != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": settings.AWS_REGION}
        client.create_bucket(Bucket=bucket, **kwargs)
        return f"created bucket {bucket}"


def current_tenant() -> str:
    return get_context().tenant_id
