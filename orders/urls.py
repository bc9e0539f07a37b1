from django.urls import path

from . import apis

urlpatterns = [
    path("", apis.OrderListApi.as_view(), name="order-list"),
    path("/<str:order_id>", apis.OrderDetailApi.as_view(), name="order-detail"),
    path("/<str:order_id>/cancel", apis.OrderCancelApi.as_view(), name="order-cancel"),
]
