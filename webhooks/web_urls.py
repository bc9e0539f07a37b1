from django.urls import path

from . import views

urlpatterns = [
    path("", views.webhooks, name="webhooks"),
    path("guide", views.guide, name="webhook-guide"),
    path("endpoints/<str:endpoint_id>", views.endpoint_detail, name="webhook-endpoint"),
    path("endpoints/<str:endpoint_id>/secret", views.endpoint_secret, name="webhook-endpoint-secret"),
    path("endpoints/<str:endpoint_id>/enabled", views.endpoint_toggle, name="webhook-endpoint-toggle"),
    path("endpoints/<str:endpoint_id>/recover", views.endpoint_recover, name="webhook-endpoint-recover"),
    path("endpoints/<str:endpoint_id>/resend/<str:message_id>", views.endpoint_resend, name="webhook-endpoint-resend"),
    path("recoveries/<str:recovery_id>", views.recovery_status, name="webhook-recovery"),
    path("<str:subscription_id>/test", views.webhook_test, name="webhook-test"),
    path("<str:subscription_id>/delete", views.webhook_delete, name="webhook-delete"),
]
