from __future__ import annotations

from rest_framework import serializers


class EventTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()


class SubscriptionCreateSerializer(serializers.Serializer):
    # Content is validated by the service (catalogue and SSRF rules); whitespace is not trimmed
    # so that a URL with stray spaces is refused rather than silently changed.
    event_type = serializers.CharField(max_length=100)
    url = serializers.CharField(max_length=4096, trim_whitespace=False)


class SubscriptionSerializer(serializers.Serializer):
    id = serializers.CharField()
    event_type = serializers.CharField()
    url = serializers.CharField()
    status = serializers.CharField(help_text="pending_confirmation, active, expired or suspended (the host no longer passes the URL rules)")
    topic_arn = serializers.CharField(help_text="Deliveries come from this topic: pin it in your verifier.")
    subscription_arn = serializers.CharField()
    created_at = serializers.CharField()


class TestDeliverySerializer(serializers.Serializer):
    id = serializers.CharField()
    type = serializers.CharField()
    tenant_id = serializers.CharField()
    created_at = serializers.CharField()
    data = serializers.DictField()
