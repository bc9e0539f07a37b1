"""Thin views for /api/v1/orders: parse -> service/selector -> serialize.

Viewers read (their own orders, like members); members also place and cancel their own; managers
and admins see and cancel all. Another user's or another tenant's order is a 404.
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from saas.serializers import PageQuerySerializer
from tenants.permissions import IsMember, ReadViewerWriteMember

from . import selectors, services
from .models import public_order
from .serializers import (
    OrderCreateSerializer,
    OrderListSerializer,
    OrderSerializer,
    idempotency_key,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description="Retry-safe creation: the same key and body return the same order (header "
                "Idempotent-Replayed: true); the same key with another body is a 409. Kept 24 h, per user.")


def _validated(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class OrderListApi(APIView):
    permission_classes = [ReadViewerWriteMember]

    @extend_schema(operation_id="orders_list", parameters=[PageQuerySerializer], responses={200: OrderListSerializer})
    def get(self, request):
        query = _validated(PageQuerySerializer, request.query_params)
        page = selectors.list_orders(cursor=query.get("cursor") or None, limit=query["limit"])
        return Response({"results": [public_order(o) for o in page.items], "next_cursor": page.next_cursor})

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=OrderCreateSerializer, responses={201: OrderSerializer})
    def post(self, request):
        key = idempotency_key(request)
        body = _validated(OrderCreateSerializer, request.data)
        placed = services.place_order(lines=body["lines"], idempotency_key=key)
        headers = {"Location": f"/api/v1/orders/{placed.order['id']}"}
        if placed.replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(public_order(placed.order), status=status.HTTP_201_CREATED, headers=headers)


class OrderDetailApi(APIView):
    permission_classes = [ReadViewerWriteMember]

    @extend_schema(responses={200: OrderSerializer})
    def get(self, request, order_id: str):
        return Response(public_order(selectors.get_order(order_id)))


class OrderCancelApi(APIView):
    permission_classes = [IsMember]

    @extend_schema(request=None, responses={200: OrderSerializer})
    def post(self, request, order_id: str):
        return Response(public_order(services.cancel_order(order_id=order_id)))
