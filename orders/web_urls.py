from django.urls import path

from . import views

urlpatterns = [
    path("", views.orders, name="orders"),
    path("export.csv", views.orders_csv, name="orders-csv"),
    path("new", views.order_new, name="order-new"),
    path("new/quote", views.order_quote, name="order-quote"),
    path("new/cart", views.order_cart, name="order-cart"),
    path("new/products", views.order_picker, name="order-picker"),
    path("<str:order_id>/", views.order_detail, name="order"),
    path("<str:order_id>/status", views.order_status, name="order-status"),
    path("<str:order_id>/cancel", views.order_cancel, name="order-cancel"),
]
