from django.urls import path

from . import views

urlpatterns = [
    path("", views.webhooks, name="webhooks"),
    path("guide", views.guide, name="webhook-guide"),
    path("<str:subscription_id>/test", views.webhook_test, name="webhook-test"),
    path("<str:subscription_id>/delete", views.webhook_delete, name="webhook-delete"),
]
