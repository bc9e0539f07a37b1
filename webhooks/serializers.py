from __future__ import annotations

from rest_framework import serializers

from saas.events import EVENT_TYPES
from saas.serializers import PageQuerySerializer


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


# --- endpoints ----------------------------------------------------------------------------------------
class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2048, trim_whitespace=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1, max_length=50,
                                        help_text='Event types to receive (GET /webhooks/event-types), or ["*"] for all.')


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2048, trim_whitespace=False, required=False)
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField(max_length=100), min_length=1, max_length=50,
                                        required=False)
    enabled = serializers.BooleanField(required=False, help_text="Enabling a disabled endpoint clears its failure record.")


class EndpointSerializer(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    event_types = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    disabled_reason = serializers.CharField(allow_null=True, required=False, default=None)
    failing_since = serializers.IntegerField(allow_null=True, required=False, default=None,
                                             help_text="Epoch seconds of the first failure since the last success.")
    created_at = serializers.CharField()
    version = serializers.IntegerField()


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(help_text="whsec_...: shown here once; admins can reveal it later (audited).")


class SecretSerializer(serializers.Serializer):
    secret = serializers.CharField()
    previous_valid_until = serializers.IntegerField(required=False, allow_null=True, default=None,
                                                    help_text="After a rotation: the previous secret also signs until then (epoch seconds).")


class MessageSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The envelope id = the webhook-id header.")
    type = serializers.CharField()
    received_at_ms = serializers.IntegerField(help_text="When the worker received it, epoch milliseconds.")
    payload = serializers.JSONField(help_text="The envelope as delivered.")


class AttemptSerializer(serializers.Serializer):
    id = serializers.CharField()
    message_id = serializers.CharField()
    endpoint_id = serializers.CharField()
    event_type = serializers.CharField(allow_null=True)
    at_ms = serializers.IntegerField(help_text="When the attempt was made, epoch milliseconds.")
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    response = serializers.CharField(allow_blank=True, help_text="The first 1 KiB of the response body.")
    error = serializers.CharField(allow_null=True,
                                  help_text="None when delivered; else refused_address, dns, timeout, connection, tls, redirect or http_<status>.")


class AttemptQuerySerializer(PageQuerySerializer):
    status = serializers.ChoiceField(choices=["succeeded", "failed"], required=False)
    event_type = serializers.ChoiceField(choices=sorted(EVENT_TYPES), required=False)


class MessageQuerySerializer(PageQuerySerializer):
    event_type = serializers.ChoiceField(choices=sorted(EVENT_TYPES), required=False)


class DeliverySerializer(serializers.Serializer):
    id = serializers.CharField()
    message_id = serializers.CharField()
    endpoint_id = serializers.CharField()
    status = serializers.CharField(help_text="pending, delivered or failed")
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.IntegerField(allow_null=True, required=False, default=None)


class RecoverSerializer(serializers.Serializer):
    since = serializers.DateTimeField(help_text="Failed deliveries of messages that arrived since then are sent again (at most the retention, 30 days, back).")


class RecoverySerializer(serializers.Serializer):
    id = serializers.CharField()
    endpoint_id = serializers.CharField()
    since = serializers.IntegerField()
    status = serializers.CharField(help_text="queued, running or done")
    scanned = serializers.IntegerField()
    requeued = serializers.IntegerField()
