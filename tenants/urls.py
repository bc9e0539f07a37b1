from django.urls import path

from . import apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/active-tenant", apis.ActiveTenantApi.as_view(), name="me-active-tenant"),
    path("tenants", apis.TenantsApi.as_view(), name="tenants"),
    path("tenants/current", apis.CurrentTenantApi.as_view(), name="tenant-current"),
    path("tenants/current/members", apis.MembersApi.as_view(), name="tenant-members"),
    path("tenants/current/members/<str:user_id>", apis.MemberApi.as_view(), name="tenant-member"),
    path("admin/tenants", apis.AdminTenantsApi.as_view(), name="admin-tenants"),
    path("admin/tenants/<str:tenant_id>", apis.AdminTenantApi.as_view(), name="admin-tenant"),
    path("admin/tenants/<str:tenant_id>/deactivate", apis.AdminTenantDeactivateApi.as_view(),
         name="admin-tenant-deactivate"),
    path("admin/tenants/<str:tenant_id>/activate", apis.AdminTenantActivateApi.as_view(),
         name="admin-tenant-activate"),
    path("audit", apis.AuditApi.as_view(), name="audit"),
    path("admin/audit", apis.AdminAuditApi.as_view(), name="admin-audit"),
    path("exports", apis.ExportsApi.as_view(), name="exports"),
    path("exports/<str:export_id>", apis.ExportApi.as_view(), name="export"),
    path("exports/<str:export_id>/download", apis.ExportDownloadApi.as_view(), name="export-download"),
    path("tenants/current/offboard", apis.CurrentTenantOffboardApi.as_view(), name="tenant-current-offboard"),
    path("admin/tenants/<str:tenant_id>/offboard", apis.AdminTenantOffboardApi.as_view(), name="admin-tenant-offboard"),
    path("admin/tenants/<str:tenant_id>/offboarding", apis.AdminTenantOffboardingApi.as_view(),
         name="admin-tenant-offboarding"),
    path("tenants/current/usage", apis.CurrentTenantUsageApi.as_view(), name="tenant-current-usage"),
    path("admin/tenants/<str:tenant_id>/usage", apis.AdminTenantUsageApi.as_view(), name="admin-tenant-usage"),
]
