"""Thin views for identity and tenancy; logic lives in services and selectors."""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions
from rest_framework.response import Response
from rest_framework.views import APIView

from saas.tenancy.context import TenantContext, current_context

from . import selectors, services
from .serializers import ActiveTenantSerializer


def me_payload(request) -> dict:
    ctx = current_context()
    active = None
    if isinstance(ctx, TenantContext):
        summary = selectors.tenant_summary(ctx.tenant_id) or {"id": ctx.tenant_id}
        active = {**summary, "tier": ctx.tier, "roles": sorted(ctx.roles)}
    user = request.user
    return {
        "user": {"id": user.sub, "email": user.email, "system_admin": user.is_system_admin},
        "active_tenant": active,
        "memberships": selectors.memberships_of(user.sub),
    }


class MeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: dict})
    def get(self, request):
        return Response(me_payload(request))


class ActiveTenantApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=ActiveTenantSerializer, responses={200: dict})
    def put(self, request):
        serializer = ActiveTenantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            services.switch_active_tenant(user_id=request.user.sub, tenant_id=serializer.validated_data["tenant_id"])
        except services.NotAMember:
            raise exceptions.PermissionDenied("You are not a member of that tenant.", "not_a_member")
        return Response({"active_tenant_id": serializer.validated_data["tenant_id"]})
