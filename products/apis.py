"""Thin views for /api/v1/products: parse -> selector/service -> serialize.

Viewers read, managers (and admins) write. Reads and write responses carry
``ETag: "<id>:<version>"``; PUT/PATCH/DELETE honour ``If-Match`` (see products.services).
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from saas import idempotency
from saas.serializers import IDEMPOTENCY_KEY
from tenants.permissions import ReadViewerWriteManager

from . import selectors, services
from .models import product_etag, public_product
from .serializers import (
    DeleteSerializer,
    ImageAttachSerializer,
    ImageUploadSerializer,
    ListQuerySerializer,
    ProductListSerializer,
    ProductSerializer,
)

IF_MATCH = OpenApiParameter("If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
                            description='ETag from a read, e.g. "<id>:<version>"; 412 if it is not current.')


def present(item: dict) -> dict:
    """The API shape: the stored product plus a short-lived link to its image (or null)."""
    return {**public_product(item), "image_url": services.image_url(item)}


def product_response(item: dict, status_code: int = status.HTTP_200_OK) -> Response:
    return Response(present(item), status=status_code, headers={"ETag": product_etag(item)})


def _validated(serializer_class, data, *, partial: bool = False) -> dict:
    serializer = serializer_class(data=data, partial=partial)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class ProductListApi(APIView):
    permission_classes = [ReadViewerWriteManager]

    @extend_schema(operation_id="products_list", parameters=[ListQuerySerializer],
                   responses={200: ProductListSerializer})
    def get(self, request):
        query = _validated(ListQuerySerializer, request.query_params)
        page = selectors.list_products(category=query.get("category"), cursor=query.get("cursor") or None,
                                       limit=query["limit"])
        return Response({"results": [present(p) for p in page.items], "next_cursor": page.next_cursor})

    @extend_schema(parameters=[IDEMPOTENCY_KEY], request=ProductSerializer, responses={201: ProductSerializer})
    def post(self, request):
        key = idempotency.key_from(request.headers)
        fields = _validated(ProductSerializer, request.data)
        fields.pop("version", None)
        outcome = idempotency.run(
            key, operation="products.create", payload=fields,
            create=lambda claim: services.create_product(**fields, idempotency=claim),
            render=lambda product: (status.HTTP_201_CREATED, present(product), {"ETag": product_etag(product)}))
        return Response(outcome.body, status=outcome.status, headers=outcome.headers)


class ProductDetailApi(APIView):
    permission_classes = [ReadViewerWriteManager]

    @extend_schema(responses={200: ProductSerializer})
    def get(self, request, product_id: str):
        return product_response(selectors.get_product(product_id))

    @extend_schema(parameters=[IF_MATCH], request=ProductSerializer, responses={200: ProductSerializer})
    def put(self, request, product_id: str):
        """Replace: omitted optional fields take their defaults (description "", stock 0, no category)."""
        return self._update(request, product_id, partial=False)

    @extend_schema(parameters=[IF_MATCH], request=ProductSerializer, responses={200: ProductSerializer})
    def patch(self, request, product_id: str):
        return self._update(request, product_id, partial=True)

    @extend_schema(parameters=[IF_MATCH], request=DeleteSerializer, responses={204: None})
    def delete(self, request, product_id: str):
        body = _validated(DeleteSerializer, request.data)  # no body: {}; a body that is not an object: 400
        services.delete_product(product_id=product_id, if_match=request.headers.get("If-Match"),
                                expected_version=body.get("version"))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, product_id: str, *, partial: bool) -> Response:
        changes = _validated(ProductSerializer, request.data, partial=partial)
        expected_version = changes.pop("version", None)
        product = services.update_product(product_id=product_id, changes=changes,
                                          if_match=request.headers.get("If-Match"),
                                          expected_version=expected_version)
        return product_response(product)


class ProductImageUploadApi(APIView):
    """Start a browser upload: a presigned POST for exactly one object under the tenant's prefix."""

    permission_classes = [ReadViewerWriteManager]

    @extend_schema(request=None, responses={201: ImageUploadSerializer})
    def post(self, request, product_id: str):
        return Response(services.start_image_upload(product_id=product_id), status=status.HTTP_201_CREATED)


class ProductImageApi(APIView):
    """Attach an uploaded image (checked: present, size, really an image) or remove it."""

    permission_classes = [ReadViewerWriteManager]

    @extend_schema(parameters=[IF_MATCH], request=ImageAttachSerializer, responses={200: ProductSerializer})
    def put(self, request, product_id: str):
        data = _validated(ImageAttachSerializer, request.data)
        return product_response(services.attach_image(product_id=product_id, upload_id=data["upload_id"],
                                                      if_match=request.headers.get("If-Match")))

    @extend_schema(parameters=[IF_MATCH], request=None, responses={200: ProductSerializer})
    def delete(self, request, product_id: str):
        return product_response(services.remove_image(product_id=product_id, if_match=request.headers.get("If-Match")))
