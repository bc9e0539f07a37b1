"""The core's own DynamoDB item types, imported here so the app registry loads them in every
process (the store's entity registry must know every partition for export and offboarding)."""
from saas.limits import Quota  # noqa: F401
