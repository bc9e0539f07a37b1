from django.urls import path

from . import apis

urlpatterns = [
    path("event-types", apis.EventTypesApi.as_view(), name="webhook-event-types"),
    path("subscriptions", apis.SubscriptionListApi.as_view(), name="webhook-subscriptions"),
    path("subscriptions/<str:subscription_id>", apis.SubscriptionDetailApi.as_view(), name="webhook-subscription"),
    path("subscriptions/<str:subscription_id>/refresh", apis.SubscriptionRefreshApi.as_view(),
         name="webhook-subscription-refresh"),
    path("subscriptions/<str:subscription_id>/test", apis.SubscriptionTestApi.as_view(), name="webhook-subscription-test"),
]
