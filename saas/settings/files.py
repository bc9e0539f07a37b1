"""Files on S3 (django-storages, the ``files`` feature): bucket, link lifetimes, upload limits."""
from __future__ import annotations

from saas.settings.aws import AWS_ENDPOINT_URLS, AWS_REGION
from saas.settings.base import LOCAL_STACK
from saas.settings.environment import env, env_bool

# Where presigned file links point (the S3 endpoint locally; the bucket's hosts in AWS), for the CSP.
_s3_endpoint = env("S3_ENDPOINT_URL", env("MOTO_ENDPOINT_URL"))
_files_bucket = env("S3_BUCKET", "saas-local-files")
FILES_ORIGINS = ([_s3_endpoint.rstrip("/")] if _s3_endpoint else
                 [f"https://{_files_bucket}.s3.amazonaws.com",
                  f"https://{_files_bucket}.s3.{env('AWS_REGION', env('AWS_DEFAULT_REGION', 'us-east-1'))}.amazonaws.com"])

# Files: S3 via django-storages under a per-tenant prefix (see saas.tenancy.keys.storage_key).
STORAGES = {
    "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("S3_BUCKET", "saas-local-files"),
            "endpoint_url": AWS_ENDPOINT_URLS["s3"] or None,
            "region_name": AWS_REGION,
            "file_overwrite": False,
            "querystring_auth": True,  # url() gives presigned GETs
            "querystring_expire": int(env("FILES_GET_EXPIRE_SECONDS", "300")),
            "default_acl": None,  # the bucket stays private
            "signature_version": "s3v4",
        },
    },
    "staticfiles": {"BACKEND": "saas.static.ScriptPrefixedStaticFilesStorage"},
}
# Files (the files package): presigned upload forms and read links are short-lived.
FILES_UPLOAD_EXPIRE_SECONDS = int(env("FILES_UPLOAD_EXPIRE_SECONDS", "600"))
FILES_GET_EXPIRE_SECONDS = int(env("FILES_GET_EXPIRE_SECONDS", "300"))
FILES_ENSURE_BUCKET = env_bool("FILES_ENSURE_BUCKET", LOCAL_STACK)  # ensure_tables also creates the bucket
PRODUCT_IMAGE_MAX_BYTES = int(env("PRODUCT_IMAGE_MAX_BYTES", str(5 * 1024 * 1024)))
# A tenant's uploads not (yet) attached may hold this much before new upload forms are refused
# (they are counted on Settings -> Usage and expire by the bucket lifecycle rule, saas.buckets).
FILES_PENDING_UPLOADS_MAX_BYTES = int(env("FILES_PENDING_UPLOADS_MAX_BYTES", str(50 * 1024 * 1024)))
