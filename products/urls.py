from django.urls import path

from . import apis

urlpatterns = [
    path("", apis.ProductListApi.as_view(), name="product-list"),
    path("/<str:product_id>", apis.ProductDetailApi.as_view(), name="product-detail"),
    path("/<str:product_id>/image", apis.ProductImageApi.as_view(), name="product-image"),
    path("/<str:product_id>/image/upload", apis.ProductImageUploadApi.as_view(), name="product-image-upload"),
]
