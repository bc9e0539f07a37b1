"""Input validation for the orders API (every error names its field) and the response schemas.

An order has 1-50 lines; quantity is a JSON integer 1-1000; a product may appear on one line only
(duplicates are a 400 naming the line: one transaction cannot touch an item twice, and silently
summing lines would hide a client bug). Unknown fields are refused, as in the products API.
"""
from __future__ import annotations

import re

from rest_framework import serializers

from saas.serializers import (
    RejectUnknownFieldsMixin,
    StrictCharField,
    StrictIntegerField,
)

from .models import STATUSES

MAX_LINES = 50
MAX_QUANTITY = 1000
IDEMPOTENCY_KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


class OrderLineInputSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    product_id = StrictCharField(min_length=1, max_length=200)
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)


class OrderCreateSerializer(RejectUnknownFieldsMixin, serializers.Serializer):
    # many=True hands min_length/max_length to the ListSerializer it builds (the stubs do not say so).
    lines = OrderLineInputSerializer(many=True, min_length=1, max_length=MAX_LINES)  # type: ignore[call-arg]

    def validate_lines(self, lines: list[dict]) -> list[dict]:
        seen: set[str] = set()
        errors: dict[int, dict] = {}  # keyed by line index, like DRF's own list errors
        for index, line in enumerate(lines):
            if line["product_id"] in seen:
                errors[index] = {"product_id": ["This product is already on another line; put the whole "
                                                "quantity on one line."]}
            seen.add(line["product_id"])
        if errors:
            raise serializers.ValidationError(errors)  # type: ignore[arg-type]  # DRF's list errors are keyed by index too
        return [dict(line) for line in lines]


def idempotency_key(request) -> str | None:
    """The ``Idempotency-Key`` header, validated (400 naming it), or None when absent."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise serializers.ValidationError({"Idempotency-Key": ["Use 1-255 printable ASCII characters, no spaces."]})
    return key


# --- response schemas (documentation only; responses are built by models.public_order) ----------
class OrderLineSerializer(serializers.Serializer):
    product_id = serializers.CharField()
    sku = serializers.CharField()
    name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = serializers.CharField(help_text="Decimal string, from the catalogue at order time.")
    line_total = serializers.CharField(help_text="Decimal string.")


class OrderSerializer(serializers.Serializer):
    id = serializers.CharField()
    user_id = serializers.CharField()
    status = serializers.ChoiceField(choices=STATUSES)
    currency = serializers.CharField()
    total = serializers.CharField(help_text="Decimal string.")
    lines = OrderLineSerializer(many=True)
    created_at = serializers.CharField()
    updated_at = serializers.CharField()
    confirmed_at = serializers.CharField(allow_null=True)
    fulfilled_at = serializers.CharField(allow_null=True)
    cancelled_at = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()


class OrderListSerializer(serializers.Serializer):
    results = OrderSerializer(many=True)
    next_cursor = serializers.CharField(allow_null=True)
