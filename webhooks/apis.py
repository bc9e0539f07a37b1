"""Thin views: parse, call a selector or service, serialize."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from saas.serializers import PageQuerySerializer
from tenants.permissions import IsAdmin, IsViewer

from . import selectors, services
from .serializers import (
    EventTypeSerializer,
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
