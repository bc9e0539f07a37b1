from django.urls import path

from . import apis

urlpatterns = [
    path("schemas/<str:event_type>.json", apis.EventSchemaApi.as_view(), name="webhook-schema"),
    path("event-types", apis.EventTypesApi.as_view(), name="webhook-event-types"),
    path("subscriptions", apis.SubscriptionListApi.as_view(), name="webhook-subscriptions"),
    path("subscriptions/<str:subscription_id>", apis.SubscriptionDetailApi.as_view(), name="webhook-subscription"),
    path("subscriptions/<str:subscription_id>/refresh", apis.SubscriptionRefreshApi.as_view(),
         name="webhook-subscription-refresh"),
    path("subscriptions/<str:subscription_id>/test", apis.SubscriptionTestApi.as_view(), name="webhook-subscription-test"),
    path("endpoints", apis.EndpointListApi.as_view(), name="webhook-endpoints"),
    path("endpoints/<str:endpoint_id>", apis.EndpointDetailApi.as_view(), name="webhook-endpoint"),
    path("endpoints/<str:endpoint_id>/secret", apis.EndpointSecretApi.as_view(), name="webhook-endpoint-secret"),
    path("endpoints/<str:endpoint_id>/secret/rotate", apis.EndpointSecretRotateApi.as_view(),
         name="webhook-endpoint-secret-rotate"),
    path("endpoints/<str:endpoint_id>/attempts", apis.EndpointAttemptsApi.as_view(), name="webhook-endpoint-attempts"),
    path("endpoints/<str:endpoint_id>/recover", apis.EndpointRecoverApi.as_view(), name="webhook-endpoint-recover"),
    path("recoveries/<str:recovery_id>", apis.RecoveryDetailApi.as_view(), name="webhook-recovery"),
    path("messages", apis.MessageListApi.as_view(), name="webhook-messages"),
    path("messages/<str:message_id>", apis.MessageDetailApi.as_view(), name="webhook-message"),
    path("messages/<str:message_id>/attempts", apis.MessageAttemptsApi.as_view(), name="webhook-message-attempts"),
    path("messages/<str:message_id>/endpoints/<str:endpoint_id>/resend", apis.MessageResendApi.as_view(),
         name="webhook-message-resend"),
]
