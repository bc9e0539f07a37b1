"""Serializer pieces every app's API shares."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers


class StrictCharField(serializers.CharField):
    """A JSON string only: numbers and booleans are not coerced to text."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: booleans, decimals and numeric strings are refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class QuerySerializer(serializers.Serializer):
    """Query parameters: an empty value (``?cursor=``) is a 400 naming it, not read as "absent"
    (DRF's form handling would silently drop it, and the schema says such a value is invalid)."""

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            empty = sorted(name for name in self.fields if name in data and "" in data.getlist(name))
            if empty:
                raise serializers.ValidationError({name: ["May not be empty: leave it out instead."] for name in empty})
        return super().to_internal_value(data)


class PageQuerySerializer(QuerySerializer):
    """``?limit=`` (1-100, default 20) and ``?cursor=`` (opaque; the store verifies it)."""

    limit = serializers.IntegerField(min_value=1, max_value=100, required=False, default=20)
    cursor = serializers.CharField(max_length=4096, required=False, min_length=1)


if TYPE_CHECKING:  # the mixin is only ever mixed into a Serializer: type it as one
    _SerializerBase = serializers.Serializer
else:
    _SerializerBase = object


class RejectUnknownFieldsMixin(_SerializerBase):
    # A 400 naming fields the serializer does not know, so a typo is not silently dropped. (A comment,
    # not a docstring: drf-spectacular would show a docstring as the description of every request
    # schema that uses the mixin.) The OpenAPI document says `additionalProperties: false` for them.

    def to_internal_value(self, data: Any):
        if isinstance(data, dict):
            unknown = [k for k in data if k not in self.fields]
            if unknown:
                # Names are echoed back: escape lone surrogates so the error itself can be rendered.
                # Only the first few are named, so the error stays small whatever the body held.
                shown = sorted(unknown)[:settings.API_MAX_ERROR_FIELDS]
                errors = {k.encode("utf-8", "backslashreplace").decode()[:100]: ["Unknown field."] for k in shown}
                if len(unknown) > len(shown):
                    errors["unknown_fields_omitted"] = [f"{len(unknown) - len(shown)} more unknown fields."]
                raise serializers.ValidationError(errors)
        return super().to_internal_value(data)


# The ``Idempotency-Key`` request header of the retry-safe creates (``saas.idempotency``); saas.schema
# adds its pattern, the replay header and the 409 code to every operation that declares it.
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Retry-safe creation: a retry with the same key and body creates nothing and returns the first "
                "answer again (status, body, headers) with `Idempotent-Replayed: true`; the same key with "
                "another body, or on another create, is a 409 `idempotency_key_reused`. Kept 24 h, per user "
                "(and per tenant for creates in a tenant).")
