"""Tenant data export: every exportable item of a tenant as NDJSON in one zip on S3 (a feature home
outside the kernel; the tenant's Settings API and pages in ``tenants`` request and list them)."""
