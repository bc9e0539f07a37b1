"""Input validation for the products API (every error names its field).

Rules: text fields must be JSON strings (no numbers or booleans coerced); ``stock`` and
``version`` must be JSON integers (booleans, decimals and strings refused); ``price`` may be a
string or a number but must be a non-negative decimal with at most 2 places and at most 10^9.
Unknown fields are a 400 naming them (a typo such as ``"prise"`` must not be silently dropped);
the read-only fields of the representation (``id``, ``created_at``, ``updated_at``) are ignored so
a client can send back what it read, and ``version`` there is the optimistic-lock version.
"""
from __future__ import annotations

import re

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from saas.serializers import (
    PageQuerySerializer,
    RejectUnknownFieldsMixin,
    StrictCharField,
    StrictIntegerField,
)

from .models import (
    CATEGORY_PATTERN,
    CURRENCIES,
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PRICE_MAX,
    SKU_PATTERN,
    STOCK_MAX,
)


@extend_schema_field({"type": "string", "enum": sorted(CURRENCIES), "description": "An ISO 4217 currency code.",
                     "example": "USD"})
class CurrencyField(StrictCharField):
    default_error_messages = {"unknown_currency": "Must be an ISO 4217 currency code such as USD or EUR."}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value not in CURRENCIES:
            self.fail("unknown_currency")
        return value


# 0 to 10^9 with at most 2 places, written plainly (no sign, exponent, spaces or leading zeros).
PRICE_PATTERN = re.compile(r"^(?:(?:0|[1-9][0-9]{0,8})(?:\.[0-9]{1,2})?|1000000000(?:\.00?)?)$")


class PriceField(serializers.DecimalField):
    """A decimal string in the documented form, or a JSON number (read the same way); booleans and
    other strings (``""``, ``"-1"``, ``"1e3"``, ``" 5"``) are refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or (isinstance(data, str) and not PRICE_PATTERN.fullmatch(data)):
            self.fail("invalid")
        return super().to_internal_value(data)


class ProductSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    id = serializers.CharField(read_only=True)
    sku = StrictCharField(max_length=64, trim_whitespace=False, validators=[RegexValidator(
        SKU_PATTERN, "Use 1-64 characters: uppercase letters, digits, '.', '_' or '-', starting with a letter or digit.")])
    name = StrictCharField(min_length=1, max_length=NAME_MAX_LENGTH)
    description = StrictCharField(max_length=DESCRIPTION_MAX_LENGTH, allow_blank=True, required=False, default="")
    price = PriceField(max_digits=12, decimal_places=2, min_value=0, max_value=PRICE_MAX,
                                     coerce_to_string=True)
    currency = CurrencyField()
    stock = StrictIntegerField(min_value=0, max_value=STOCK_MAX, required=False, default=0)
    category = StrictCharField(max_length=64, allow_null=True, required=False, default=None,
                               trim_whitespace=False, validators=[RegexValidator(
                                   CATEGORY_PATTERN, "Use a lowercase slug: letters, digits and '-', up to 64.")])
    created_at = serializers.CharField(read_only=True)
    updated_at = serializers.CharField(read_only=True)
    # Write: the version the client last read (used when no If-Match is sent). Read: the current one.
    version = StrictIntegerField(min_value=1, max_value=2**53, required=False)
    image_url = serializers.CharField(read_only=True, allow_null=True,
                                      help_text="A presigned link to the product image, valid for minutes.")


class DeleteSerializer(serializers.Serializer):
    """An optional body on DELETE: ``{"version": n}`` (used when no If-Match is sent)."""

    version = StrictIntegerField(min_value=1, max_value=2**53, required=False)


class ListQuerySerializer(PageQuerySerializer):
    category = serializers.CharField(max_length=64, required=False, validators=[RegexValidator(
        CATEGORY_PATTERN, "Use a lowercase slug: letters, digits and '-', up to 64.")])


class ProductListSerializer(serializers.Serializer):
    """Schema only: the list response."""

    results = ProductSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)


class ImageAttachSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    upload_id = serializers.RegexField(r"^[0-9a-f]{32}$", help_text="The upload_id of a started upload.")


class ImageUploadSerializer(serializers.Serializer):
    """Schema only: POST the file with ``fields`` as multipart form fields (file last) to ``url``."""

    upload_id = serializers.CharField()
    url = serializers.CharField()
    fields = serializers.DictField(child=serializers.CharField())  # type: ignore[assignment]  # a field: DRF takes it out of the class, .fields stays
    max_bytes = serializers.IntegerField()
    content_types = serializers.ListField(child=serializers.CharField())
    expires_in = serializers.IntegerField()
