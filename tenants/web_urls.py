from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationRequestView, OIDCLogoutView

from . import views


def oidc_callback(request, *args, **kwargs):
    # The sign-in backend pulls in mozilla-django-oidc's auth module and PyJWT (~60 ms): only the
    # request that finishes a sign-in needs them, not a Lambda container's start-up.
    from .backends import SessionCallbackView

    return SessionCallbackView.as_view()(request, *args, **kwargs)


class SignUpRequestView(OIDCAuthenticationRequestView):
    """"Create an account": the same authorization request (state, nonce, ``next``) sent to the
    provider's sign-up page (Cognito hosted UI ``/signup``, which takes the authorize query and
    returns to the callback signed in), so a newcomer comes back exactly like someone signing in."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.OIDC_OP_AUTH_ENDPOINT = self.get_settings("OIDC_OP_SIGNUP_ENDPOINT")


urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_page, name="login"),
    path("switch-tenant", views.switch_tenant, name="switch-tenant"),
    path("start/", views.start, name="start"),
    path("start/progress", views.start_progress, name="start-progress"),
    path("invitations/<str:invitation_id>/", views.invitation_open, name="invitation-open"),
    path("invitations/<str:invitation_id>/<str:answer>", views.invitation_answer, name="invitation-answer"),
    path("memberships/<str:tenant_id>/leave", views.leave_tenant, name="leave-tenant"),
    path("memberships/<str:tenant_id>/cancel-deletion", views.cancel_deletion, name="cancel-deletion"),
    path("memberships/<str:tenant_id>/final-export", views.final_export_download, name="final-export-download"),
    path("team/", views.team, name="team"),
    path("team/invitations/<str:invitation_id>/revoke", views.invitation_revoke, name="invitation-revoke"),
    path("team/invitations/<str:invitation_id>/resend", views.invitation_resend, name="invitation-resend"),
    path("team/<str:user_id>/role", views.member_role, name="member-role"),
    path("team/<str:user_id>/remove", views.member_remove, name="member-remove"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/sessions/end", views.end_all_sessions, name="end-sessions"),
    path("settings/usage", views.usage_page, name="usage"),
    path("settings/export", views.export_page, name="export-page"),
    path("settings/export/<str:export_id>/status", views.export_status, name="export-status"),
    path("settings/export/<str:export_id>/download", views.export_download, name="export-download-web"),
    path("settings/delete", views.tenant_delete, name="tenant-delete"),
    path("audit/", views.audit_page, name="audit"),
    path("platform/audit/", views.platform_audit_page, name="platform-audit"),
    path("platform/<str:tenant_id>/offboard", views.platform_offboard, name="platform-offboard"),
    path("platform/<str:tenant_id>/cancel-deletion", views.platform_cancel_deletion, name="platform-cancel-deletion"),
    path("platform/<str:tenant_id>/receipt", views.platform_receipt, name="platform-receipt"),
    path("platform/", views.platform, name="platform"),
    path("platform/<str:tenant_id>/", views.platform_tenant, name="platform-tenant"),
    path("platform/<str:tenant_id>/decide/<str:decision>", views.platform_tenant_approval,
         name="platform-tenant-approval"),
    path("platform/<str:tenant_id>/<str:action>", views.platform_tenant_status, name="platform-tenant-status"),
    # mozilla-django-oidc (names as in mozilla_django_oidc.urls; the backend reverses the callback)
    path("oidc/authenticate/", OIDCAuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("oidc/signup/", SignUpRequestView.as_view(), name="oidc_signup_init"),
    path("oidc/callback/", oidc_callback, name="oidc_authentication_callback"),
    path("oidc/logout/", OIDCLogoutView.as_view(), name="oidc_logout"),
]
