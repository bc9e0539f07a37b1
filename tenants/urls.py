from django.urls import path

from . import apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/active-tenant", apis.ActiveTenantApi.as_view(), name="me-active-tenant"),
]
