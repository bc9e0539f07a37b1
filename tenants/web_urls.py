from django.urls import path
from mozilla_django_oidc.views import OIDCAuthenticationRequestView, OIDCLogoutView

from . import views
from .backends import SessionCallbackView

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_page, name="login"),
    path("switch-tenant", views.switch_tenant, name="switch-tenant"),
    # mozilla-django-oidc (names as in mozilla_django_oidc.urls; the backend reverses the callback)
    path("oidc/authenticate/", OIDCAuthenticationRequestView.as_view(), name="oidc_authentication_init"),
    path("oidc/callback/", SessionCallbackView.as_view(), name="oidc_authentication_callback"),
    path("oidc/logout/", OIDCLogoutView.as_view(), name="oidc_logout"),
]
