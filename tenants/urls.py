"""The tenancy API's routes, grouped by whose they are: the signed-in person (``me``), the active
tenant (``tenants/current``, its audit trail and exports) and the platform admins (``admin``)."""
from django.urls import include, path

from . import apis

me = [  # me/...
    path("active-tenant", apis.ActiveTenantApi.as_view(), name="me-active-tenant"),
    path("invitations", apis.MyInvitationsApi.as_view(), name="me-invitations"),
    path("invitations/<str:invitation_id>/accept", apis.MyInvitationAcceptApi.as_view(), name="me-invitation-accept"),
    path("invitations/<str:invitation_id>/decline", apis.MyInvitationDeclineApi.as_view(), name="me-invitation-decline"),
    path("memberships/<str:tenant_id>", apis.MyMembershipApi.as_view(), name="me-membership"),
    path("offboardings", apis.MyOffboardingsApi.as_view(), name="me-offboardings"),
    path("offboardings/<str:tenant_id>/final-export/download", apis.MyFinalExportDownloadApi.as_view(),
         name="me-final-export-download"),
]

current_tenant = [  # tenants/current/...
    path("members", apis.MembersApi.as_view(), name="tenant-members"),
    path("members/<str:user_id>", apis.MemberApi.as_view(), name="tenant-member"),
    path("invitations", apis.InvitationsApi.as_view(), name="tenant-invitations"),
    path("invitations/<str:invitation_id>", apis.InvitationApi.as_view(), name="tenant-invitation"),
    path("usage", apis.CurrentTenantUsageApi.as_view(), name="tenant-current-usage"),
    path("offboard", apis.CurrentTenantOffboardApi.as_view(), name="tenant-current-offboard"),
]

one_tenant_for_admins = [  # admin/tenants/<tenant_id>/...
    path("approve", apis.AdminTenantApproveApi.as_view(), name="admin-tenant-approve"),
    path("reject", apis.AdminTenantRejectApi.as_view(), name="admin-tenant-reject"),
    path("deactivate", apis.AdminTenantDeactivateApi.as_view(), name="admin-tenant-deactivate"),
    path("activate", apis.AdminTenantActivateApi.as_view(), name="admin-tenant-activate"),
    path("usage", apis.AdminTenantUsageApi.as_view(), name="admin-tenant-usage"),
    path("offboard", apis.AdminTenantOffboardApi.as_view(), name="admin-tenant-offboard"),
    path("offboarding", apis.AdminTenantOffboardingApi.as_view(), name="admin-tenant-offboarding"),
]

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/", include(me)),
    path("tenants", apis.TenantsApi.as_view(), name="tenants"),
    path("tenants/current", apis.CurrentTenantApi.as_view(), name="tenant-current"),
    path("tenants/current/", include(current_tenant)),
    path("audit", apis.AuditApi.as_view(), name="audit"),
    path("exports", apis.ExportsApi.as_view(), name="exports"),
    path("exports/<str:export_id>", apis.ExportApi.as_view(), name="export"),
    path("exports/<str:export_id>/download", apis.ExportDownloadApi.as_view(), name="export-download"),
    path("admin/tenants", apis.AdminTenantsApi.as_view(), name="admin-tenants"),
    path("admin/tenants/<str:tenant_id>", apis.AdminTenantApi.as_view(), name="admin-tenant"),
    path("admin/tenants/<str:tenant_id>/", include(one_tenant_for_admins)),
    path("admin/audit", apis.AdminAuditApi.as_view(), name="admin-audit"),
]
