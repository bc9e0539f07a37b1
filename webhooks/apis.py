"""Thin views: parse, call a selector or service, serialize."""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from saas import idempotency
from saas.serializers import IDEMPOTENCY_KEY, PageQuerySerializer
from tenants.permissions import IsAdmin, IsViewer

from . import selectors, services
from .schemas import envelope_schema
from .serializers import (
    AttemptQuerySerializer,
    AttemptSerializer,
    DeliverySerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
    EventTypeSerializer,
    MessageQuerySerializer,
    MessageSerializer,
    RecoverSerializer,
    RecoverySerializer,
    SecretSerializer,
    SubscriptionCreateSerializer,
    SubscriptionSerializer,
    TestDeliverySerializer,
)


def _page_schema(name: str, item):
    return inline_serializer(name, {"results": item(many=True), "next_cursor": serializers.CharField(allow_null=True)})


class EventTypesApi(APIView):
    permission_classes = [IsViewer]

    @extend_schema(responses={200: _page_schema("EventTypePage", EventTypeSerializer)})
    def get(self, request):
        return Response({"results": EventTypeSerializer(selectors.event_types(), many=True).data, "next_cursor": None})


class SubscriptionListApi(APIView):
    # Webhooks are managed by tenant admins only; subscriber URLs can carry secrets, so even reads.
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_subscriptions_list", parameters=[PageQuerySerializer],
                   responses={200: _page_schema("SubscriptionPage", SubscriptionSerializer)})
    def get(self, request):
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.subscription_page(**query.validated_data)
        return Response({"results": SubscriptionSerializer(page.items, many=True).data, "next_cursor": page.next_cursor})

    @extend_schema(request=SubscriptionCreateSerializer, responses={201: SubscriptionSerializer})
    def post(self, request):
        body = SubscriptionCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        subscription = services.subscribe(**body.validated_data)
        return Response(SubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED)


class SubscriptionDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={200: SubscriptionSerializer})
    def get(self, request, subscription_id: str):
        return Response(SubscriptionSerializer(selectors.subscription(subscription_id=subscription_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, subscription_id: str):
        services.unsubscribe(subscription_id=subscription_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SubscriptionRefreshApi(APIView):
    """Ask SNS now whether the subscription was confirmed (reads never do: the sweep refreshes
    pending subscriptions in the background, and this is the explicit action)."""

    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={200: SubscriptionSerializer})
    def post(self, request, subscription_id: str):
        return Response(SubscriptionSerializer(services.refresh_subscription(subscription_id=subscription_id)).data)


class SubscriptionTestApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={202: TestDeliverySerializer})
    def post(self, request, subscription_id: str):
        message = services.send_test_event(subscription_id=subscription_id)
        return Response(TestDeliverySerializer(message).data, status=status.HTTP_202_ACCEPTED)


# --- endpoints, the delivery log, resend and recover --------------------------------------------------
class EndpointListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_endpoints_list", parameters=[PageQuerySerializer],
                   responses={200: _page_schema("EndpointPage", EndpointSerializer)})
    def get(self, request):
        query = PageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.endpoint_page(**query.validated_data)
        return Response({"results": EndpointSerializer(page.items, many=True).data, "next_cursor": page.next_cursor})

    @extend_schema(operation_id="webhooks_endpoints_create", parameters=[IDEMPOTENCY_KEY],
                   request=EndpointCreateSerializer, responses={201: EndpointWithSecretSerializer})
    def post(self, request):
        key = idempotency.key_from(request.headers)
        body = EndpointCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        secrets: dict[str, str] = {}

        def create(claim):
            endpoint, secrets["new"] = services.create_endpoint(**body.validated_data, idempotency=claim)
            return endpoint

        # The key's record keeps the answer without the secret (a secret is stored once, in its own
        # item); a replay shows it again through the audited reveal, as the first answer did.
        outcome = idempotency.run(key, operation="webhooks.endpoints.create", payload=body.validated_data,
                                  create=create,
                                  render=lambda endpoint: (status.HTTP_201_CREATED, EndpointSerializer(endpoint).data, {}))
        secret = secrets.get("new") or services.reveal_secret(endpoint_id=outcome.body["id"])
        return Response({**outcome.body, "secret": secret}, status=outcome.status, headers=outcome.headers)


class EndpointDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_endpoints_retrieve", responses={200: EndpointSerializer})
    def get(self, request, endpoint_id: str):
        return Response(EndpointSerializer(selectors.endpoint(endpoint_id=endpoint_id)).data)

    @extend_schema(operation_id="webhooks_endpoints_partial_update", request=EndpointUpdateSerializer,
                   responses={200: EndpointSerializer})
    def patch(self, request, endpoint_id: str):
        body = EndpointUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(EndpointSerializer(services.update_endpoint(endpoint_id=endpoint_id, **body.validated_data)).data)

    @extend_schema(operation_id="webhooks_endpoints_destroy", responses={204: None})
    def delete(self, request, endpoint_id: str):
        services.delete_endpoint(endpoint_id=endpoint_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class EndpointSecretApi(APIView):
    """Reveal the signing secret (a POST: it writes an audit record)."""

    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_endpoints_secret_reveal", request=None, responses={200: SecretSerializer})
    def post(self, request, endpoint_id: str):
        return Response(SecretSerializer({"secret": services.reveal_secret(endpoint_id=endpoint_id)}).data)


class EndpointSecretRotateApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_endpoints_secret_rotate", request=None, responses={200: SecretSerializer})
    def post(self, request, endpoint_id: str):
        secret, until = services.rotate_secret(endpoint_id=endpoint_id)
        return Response(SecretSerializer({"secret": secret, "previous_valid_until": int(until)}).data)


class EndpointAttemptsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_endpoints_attempts_list", parameters=[AttemptQuerySerializer],
                   responses={200: _page_schema("AttemptPage", AttemptSerializer)})
    def get(self, request, endpoint_id: str):
        query = AttemptQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.endpoint_attempts(endpoint_id=endpoint_id, **query.validated_data)
        return Response({"results": AttemptSerializer(page.items, many=True).data, "next_cursor": page.next_cursor})


class EndpointRecoverApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_endpoints_recover", request=RecoverSerializer, responses={202: RecoverySerializer})
    def post(self, request, endpoint_id: str):
        body = RecoverSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = services.start_recovery(endpoint_id=endpoint_id, since=body.validated_data["since"].timestamp())
        return Response(RecoverySerializer(job).data, status=status.HTTP_202_ACCEPTED)


class RecoveryDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_recoveries_retrieve", responses={200: RecoverySerializer})
    def get(self, request, recovery_id: str):
        return Response(RecoverySerializer(selectors.recovery(recovery_id=recovery_id)).data)


class MessageListApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_messages_list", parameters=[MessageQuerySerializer],
                   responses={200: _page_schema("MessagePage", MessageSerializer)})
    def get(self, request):
        query = MessageQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        page = selectors.message_page(**query.validated_data)
        return Response({"results": MessageSerializer(page.items, many=True).data, "next_cursor": page.next_cursor})


class MessageDetailApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_messages_retrieve", responses={200: MessageSerializer})
    def get(self, request, message_id: str):
        return Response(MessageSerializer(selectors.message(message_id=message_id)).data)


class MessageAttemptsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_messages_attempts_list", parameters=[AttemptQuerySerializer],
                   responses={200: _page_schema("MessageAttemptPage", AttemptSerializer)})
    def get(self, request, message_id: str):
        query = AttemptQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = dict(query.validated_data)
        data.pop("event_type", None)
        page = selectors.message_attempts(message_id=message_id, **data)
        return Response({"results": AttemptSerializer(page.items, many=True).data, "next_cursor": page.next_cursor})


class MessageResendApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="webhooks_messages_resend", request=None, responses={202: DeliverySerializer})
    def post(self, request, message_id: str, endpoint_id: str):
        delivery = services.resend(message_id=message_id, endpoint_id=endpoint_id)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class EventSchemaApi(APIView):
    """The JSON Schema of one event type's deliveries (public documentation: no tenant data)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(operation_id="webhooks_schemas_retrieve", auth=[],
                   responses={200: OpenApiTypes.OBJECT, 404: OpenApiTypes.OBJECT})
    def get(self, request, event_type: str):
        try:
            return Response(envelope_schema(event_type))
        except KeyError:
            raise NotFound("No such event type; see GET /api/v1/webhooks/event-types.") from None
