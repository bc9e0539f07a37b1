from django.urls import path

from . import views

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("new", views.product_new, name="product-new"),
    path("export.csv", views.catalogue_export, name="catalogue-export"),
    path("import", views.catalogue_import, name="catalogue-import"),
    path("bulk", views.catalogue_bulk, name="catalogue-bulk"),
    path("<str:product_id>/", views.product_detail, name="product"),
    path("<str:product_id>/edit", views.product_edit, name="product-edit"),
    path("<str:product_id>/delete", views.product_delete, name="product-delete"),
    path("<str:product_id>/image/attached", views.product_image_attached, name="product-image-attached"),
    path("<str:product_id>/image/remove", views.product_image_remove, name="product-image-remove"),
]
