"""Thin views for identity and tenancy; logic lives in services and selectors."""
from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, status
from rest_framework.response import Response
from rest_framework.views import APIView

import audit
import files
from exports import selectors as export_selectors
from exports import services as export_services
from saas import idempotency, limits
from saas.celery import broker
from saas.errors import NotFound, ServiceUnavailable
from saas.serializers import IDEMPOTENCY_KEY
from saas.tenancy import get_context, system_context, tenant_context
from saas.tenancy.context import InvalidTenantId, validate_tenant_id
from usage import selectors as usage_selectors

from . import active_tenant, offboarding, selectors, services
from .errors import NotAMember
from .permissions import IsAdmin, IsSystemAdmin, ReadViewerWriteAdmin
from .serializers import (
    ActiveTenantSerializer,
    AdminTenantPageSerializer,
    AdminTenantSerializer,
    AuditPageSerializer,
    AuditQuerySerializer,
    ExportLinkSerializer,
    ExportPageSerializer,
    ExportSerializer,
    InvitationPageSerializer,
    InvitationSerializer,
    ListParamsSerializer,
    MemberInviteSerializer,
    MemberPageSerializer,
    MemberRoleSerializer,
    MemberSerializer,
    MeSerializer,
    MyInvitationPageSerializer,
    OffboardConfirmSerializer,
    OffboardingSerializer,
    OwnerOffboardingListSerializer,
    TenantCreateSerializer,
    TenantSerializer,
    TenantTierSerializer,
    TenantUpdateSerializer,
    UsageSerializer,
)


def _valid(serializer_class, data) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _page(page) -> dict:
    return {"results": page.items, "next_cursor": page.next_cursor}


def _tenant_id(value: str) -> str:
    try:
        return validate_tenant_id(value)
    except InvalidTenantId:
        raise NotFound() from None


class MeApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: MeSerializer})
    def get(self, request):
        identity = request.user.identity
        resolution = active_tenant.recheck(identity, request._request.resolution)
        return Response(selectors.me(identity=identity, resolution=resolution))


class ActiveTenantApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=ActiveTenantSerializer, responses={200: MeSerializer})
    def put(self, request):
        data = _valid(ActiveTenantSerializer, request.data)
        identity = request.user.identity
        services.switch_active_tenant(user_id=identity.sub, tenant_id=data["tenant_id"])
        return Response(selectors.me(identity=identity, resolution=active_tenant.resolve(identity)))


class TenantsApi(APIView):
    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=TenantCreateSerializer, responses={
        201: OpenApiResponse(TenantSerializer, description="Pooled tiers: the tenant is active."),
        202: OpenApiResponse(TenantSerializer, description=(
            "Platinum: the tenant is `pending_approval` until a platform admin approves it, then "
            "`provisioning` in the background. Watch it under `pending_tenants` in GET /me (the "
            "`Location`); once active it is a membership there.")),
    })
    def post(self, request):
        key = idempotency.key_from(request.headers)
        data = _valid(TenantCreateSerializer, request.data)
        identity = request.user.identity
        outcome = idempotency.run(  # no tenant yet: the key is the user's
            key, operation="tenants.create", payload=dict(data), user_id=identity.sub,
            create=lambda claim: services.request_tenant(name=data["name"], tier=data["tier"], owner_id=identity.sub,
                                                         owner_email=selectors.email_of(identity), idempotency=claim),
            render=_created_tenant)
        return Response(outcome.body, status=outcome.status, headers=outcome.headers)


def _created_tenant(tenant: dict) -> tuple[int, dict, dict]:
    if tenant["status"] in ("pending_approval", "provisioning"):
        return status.HTTP_202_ACCEPTED, selectors.public_tenant(tenant), {"Location": reverse("me"), "Retry-After": "2"}
    return status.HTTP_201_CREATED, selectors.public_tenant(tenant), {}


class CurrentTenantApi(APIView):
    permission_classes = [ReadViewerWriteAdmin]

    @extend_schema(responses={200: TenantSerializer})
    def get(self, request):
        return Response(selectors.current_tenant())

    @extend_schema(request=TenantUpdateSerializer, responses={200: TenantSerializer})
    def patch(self, request):
        data = _valid(TenantUpdateSerializer, request.data)
        return Response(selectors.public_tenant(services.update_current_tenant(name=data["name"])))


class MembersApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="tenants_current_members_list", parameters=[ListParamsSerializer],
                   responses={200: MemberPageSerializer})
    def get(self, request):
        params = _valid(ListParamsSerializer, request.query_params)
        return Response(_page(selectors.list_members(cursor=params.get("cursor"), limit=params["limit"])))

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=MemberInviteSerializer, responses={202: OpenApiResponse(
        InvitationSerializer, description="A pending invitation: the person becomes a member when they accept it "
                                          "(POST /me/invitations/{id}/accept). The answer is the same whether or "
                                          "not the email has an account.")})
    def post(self, request):
        key = idempotency.key_from(request.headers)
        data = _valid(MemberInviteSerializer, request.data)
        outcome = idempotency.run(
            key, operation="invitations.create", payload=dict(data),
            create=lambda claim: services.invite_member(email=data["email"], role=data["role"], idempotency=claim),
            render=lambda invitation: (status.HTTP_202_ACCEPTED, services.public_invitation(invitation), {}))
        return Response(outcome.body, status=outcome.status, headers=outcome.headers)


class InvitationsApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(operation_id="tenants_current_invitations_list", parameters=[ListParamsSerializer],
                   responses={200: InvitationPageSerializer})
    def get(self, request):
        params = _valid(ListParamsSerializer, request.query_params)
        invitations, next_cursor = services.list_invitations(cursor=params.get("cursor"), limit=params["limit"])
        return Response({"results": [services.public_invitation(i) for i in invitations], "next_cursor": next_cursor})


class InvitationApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={204: None})
    def delete(self, request, invitation_id: str):
        services.revoke_invitation(invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MyInvitationsApi(APIView):
    """The signed-in person's pending invitations (matched by the email of their verified identity)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(operation_id="me_invitations_list", responses={200: MyInvitationPageSerializer})
    def get(self, request):
        email = selectors.email_of(request.user.identity)
        return Response({"results": services.my_invitations(email=email), "next_cursor": None})


class MyInvitationAnswerApi(APIView):
    permission_classes = [permissions.IsAuthenticated]
    accept = True

    def post(self, request, invitation_id: str):
        identity = request.user.identity
        email = selectors.email_of(identity)
        if not self.accept:
            services.decline_invitation(email=email, invitation_id=invitation_id)
            return Response(status=status.HTTP_204_NO_CONTENT)
        services.accept_invitation(user_id=identity.sub, email=email, invitation_id=invitation_id)
        return Response(selectors.me(identity=identity, resolution=active_tenant.resolve(identity)))


@extend_schema_view(post=extend_schema(request=None, responses={200: MeSerializer}))
class MyInvitationAcceptApi(MyInvitationAnswerApi):
    accept = True


@extend_schema_view(post=extend_schema(request=None, responses={204: None}))
class MyInvitationDeclineApi(MyInvitationAnswerApi):
    accept = False


class MyMembershipApi(APIView):
    """Leave a tenant (any member; not its last admin)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={204: None})
    def delete(self, request, tenant_id: str):
        identity = request.user.identity
        try:
            tenant_id = validate_tenant_id(tenant_id)
        except InvalidTenantId:
            raise NotAMember() from None
        services.leave_tenant(user_id=identity.sub, tenant_id=tenant_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=MemberRoleSerializer, responses={200: MemberSerializer})
    def patch(self, request, user_id: str):
        data = _valid(MemberRoleSerializer, request.data)
        return Response(selectors.public_member(services.change_member_role(user_id=user_id, role=data["role"])))

    @extend_schema(responses={204: None})
    def delete(self, request, user_id: str):
        services.remove_member(user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class AdminTenantsApi(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(operation_id="admin_tenants_list", parameters=[ListParamsSerializer],
                   responses={200: AdminTenantPageSerializer})
    def get(self, request):
        params = _valid(ListParamsSerializer, request.query_params)
        return Response(_page(selectors.list_tenants(cursor=params.get("cursor"), limit=params["limit"])))


class AdminTenantApi(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(responses={200: AdminTenantSerializer})
    def get(self, request, tenant_id: str):
        return Response(selectors.admin_tenant(selectors.get_tenant(_tenant_id(tenant_id))))

    @extend_schema(request=TenantTierSerializer, responses={200: AdminTenantSerializer})
    def patch(self, request, tenant_id: str):
        data = _valid(TenantTierSerializer, request.data)
        tenant = services.change_tenant_tier(tenant_id=_tenant_id(tenant_id), tier=data["tier"],
                                             actor_id=request.user.sub)
        return Response(selectors.admin_tenant(tenant))


class AdminTenantStatusApi(APIView):
    permission_classes = [IsSystemAdmin]
    target_status: str = ""

    @extend_schema(request=None, responses={200: AdminTenantSerializer})
    def post(self, request, tenant_id: str):
        tenant = services.set_tenant_status(tenant_id=_tenant_id(tenant_id), status=self.target_status,
                                            actor_id=request.user.sub)
        return Response(selectors.admin_tenant(tenant))


class AdminTenantApprovalApi(APIView):
    """Platinum (silo) requests wait for a platform admin: approve starts provisioning, reject ends it."""

    permission_classes = [IsSystemAdmin]
    approve = True

    @extend_schema(request=None, responses={200: AdminTenantSerializer})
    def post(self, request, tenant_id: str):
        decide = services.approve_silo_tenant if self.approve else services.reject_silo_tenant
        tenant = decide(tenant_id=_tenant_id(tenant_id), actor_id=request.user.sub)
        return Response(selectors.admin_tenant(tenant))


class AdminTenantApproveApi(AdminTenantApprovalApi):
    approve = True


class AdminTenantRejectApi(AdminTenantApprovalApi):
    approve = False


class AdminTenantDeactivateApi(AdminTenantStatusApi):
    target_status = "deactivated"


class AdminTenantActivateApi(AdminTenantStatusApi):
    target_status = "active"


# --- audit trail ---------------------------------------------------------------------------------
def _audit_filters(params: dict) -> dict:
    return {name: params[name] for name in ("actor", "action", "target_type", "target_id", "since", "until")
            if params.get(name)}


class AuditApi(APIView):
    """The active tenant's audit trail, newest first (tenant admins)."""

    permission_classes = [IsAdmin]

    @extend_schema(operation_id="audit_list", parameters=[AuditQuerySerializer], responses={200: AuditPageSerializer})
    def get(self, request):
        params = _valid(AuditQuerySerializer, request.query_params)
        page = audit.list_records(cursor=params.get("cursor"), limit=params["limit"], **_audit_filters(params))
        return Response({"results": [audit.public_record(r) for r in page.items], "next_cursor": page.next_cursor})


class AdminAuditApi(APIView):
    """The platform trail (tenant lifecycle, tier and status changes, deletion receipts)."""

    permission_classes = [IsSystemAdmin]

    @extend_schema(operation_id="admin_audit_list", parameters=[AuditQuerySerializer],
                   responses={200: AuditPageSerializer})
    def get(self, request):
        params = _valid(AuditQuerySerializer, request.query_params)
        with system_context(reason=f"platform audit trail read by {request.user.sub}"):
            page = audit.list_platform_records(cursor=params.get("cursor"), limit=params["limit"],
                                               **_audit_filters(params))
        return Response({"results": [audit.public_record(r) for r in page.items], "next_cursor": page.next_cursor})


# --- data export ---------------------------------------------------------------------------------
class ExportsApi(APIView):
    """Tenant admins export every item of the tenant (NDJSON files in one zip on S3)."""

    permission_classes = [IsAdmin]

    @extend_schema(operation_id="exports_list", parameters=[ListParamsSerializer], responses={200: ExportPageSerializer})
    def get(self, request):
        params = _valid(ListParamsSerializer, request.query_params)
        page = export_selectors.list_exports(cursor=params.get("cursor"), limit=params["limit"])
        return Response({"results": [export_selectors.public_export(j) for j in page.items], "next_cursor": page.next_cursor})

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=None, responses={202: ExportSerializer})
    def post(self, request):
        outcome = idempotency.run(
            idempotency.key_from(request.headers), operation="exports.create", payload={}, create=_start_export,
            render=lambda job: (status.HTTP_202_ACCEPTED, export_selectors.public_export(job),
                                {"Location": reverse("export", args=[job["id"]])}))
        return Response(outcome.body, status=outcome.status, headers=outcome.headers)


def _start_export(claim) -> dict:
    if not broker.reachable():
        raise ServiceUnavailable("broker", "The job queue is unavailable, so no export was started; try again shortly.")
    job = export_services.request_export(idempotency=claim)
    from exports.tasks import enqueue_export

    enqueue_export(job["id"])
    return job


class ExportApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(responses={200: ExportSerializer})
    def get(self, request, export_id: str):
        return Response(export_selectors.public_export(export_selectors.get_export(export_id)))


class ExportDownloadApi(APIView):
    permission_classes = [IsAdmin]

    @extend_schema(request=None, responses={200: ExportLinkSerializer})
    def post(self, request, export_id: str):
        return Response(export_services.download_link(export_id=export_id))


# --- offboarding ---------------------------------------------------------------------------------
class AdminTenantOffboardApi(APIView):
    """Platform admins schedule a tenant's deletion: deactivated now, final export, deletion after
    the grace period, receipt in the platform audit trail."""

    permission_classes = [IsSystemAdmin]

    @extend_schema(request=None, responses={202: OffboardingSerializer})
    def post(self, request, tenant_id: str):
        record = offboarding.schedule_offboarding(tenant_id=_tenant_id(tenant_id), actor_id=request.user.sub)
        _enqueue_offboarding(record["id"])
        return Response(offboarding.public_offboarding(record), status=status.HTTP_202_ACCEPTED,
                        headers={"Location": reverse("admin-tenant-offboarding", args=[record["id"]])})


class AdminTenantOffboardingApi(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(responses={200: OffboardingSerializer})
    def get(self, request, tenant_id: str):
        return Response(offboarding.public_offboarding(offboarding.get_offboarding(_tenant_id(tenant_id))))


class CurrentTenantOffboardApi(APIView):
    """The tenant's owner deletes their own tenant, confirming by typing its name."""

    permission_classes = [IsAdmin]

    @extend_schema(request=OffboardConfirmSerializer, responses={202: OffboardingSerializer})
    def post(self, request):
        data = _valid(OffboardConfirmSerializer, request.data)
        tenant_id = get_context().tenant_id
        record = offboarding.schedule_offboarding(tenant_id=tenant_id, actor_id=request.user.sub,
                                                  confirm_name=data["confirm_name"], as_owner=True)
        _enqueue_offboarding(record["id"])
        return Response(offboarding.public_offboarding(record), status=status.HTTP_202_ACCEPTED)


class MyOffboardingsApi(APIView):
    """The caller's own tenants whose deletion they scheduled, during the grace period (the tenant
    is closed, but its owner can still download the final export)."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(responses={200: OwnerOffboardingListSerializer})
    def get(self, request):
        return Response({"results": offboarding.owner_offboardings(request.user.sub)})


class MyFinalExportDownloadApi(APIView):
    """A 15-minute link to the final export of a tenant the caller owns and is deleting; 404 for
    anyone else, before the export is made and once deletion started. Audit-logged."""

    permission_classes = [permissions.IsAuthenticated]

    @extend_schema(request=None, responses={200: ExportLinkSerializer})
    def post(self, request, tenant_id: str):
        return Response(offboarding.final_export_link(tenant_id=_tenant_id(tenant_id), user_id=request.user.sub))


def _enqueue_offboarding(tenant_id: str) -> None:
    from .tasks import enqueue_offboarding

    enqueue_offboarding(tenant_id)  # if the broker is down, the sweep picks the offboarding up later


# --- usage and plan limits -----------------------------------------------------------------------
def _usage_body() -> dict:
    days = usage_selectors.daily(days=30)
    return {"days": days, "totals": usage_selectors.totals(days), "limits": limits.overview(),
            "unattached_upload_bytes": files.pending_upload_bytes()}


class CurrentTenantUsageApi(APIView):
    """Settings -> Usage: the last 30 days' counters and the plan's limits with what is used."""

    permission_classes = [IsAdmin]

    @extend_schema(responses={200: UsageSerializer})
    def get(self, request):
        return Response(_usage_body())


class AdminTenantUsageApi(APIView):
    permission_classes = [IsSystemAdmin]

    @extend_schema(responses={200: UsageSerializer})
    def get(self, request, tenant_id: str):
        tenant = selectors.get_tenant(_tenant_id(tenant_id))
        with tenant_context(tenant["id"], tier=tenant.get("tier", "basic")):
            return Response(_usage_body())
