from django.urls import include, path, re_path

from saas.exceptions import api_not_found
from saas.health import health


def schema_view(request, *args, **kwargs):
    # drf-spectacular's view module costs ~0.2 s to import; keep it off the Lambda cold start.
    from drf_spectacular.views import SpectacularAPIView

    return SpectacularAPIView.as_view()(request, *args, **kwargs)


api_v1 = [
    path("", include("tenants.urls")),
    path("products", include("products.urls")),
    path("orders", include("orders.urls")),
    path("webhooks/", include("webhooks.urls")),
]

urlpatterns = [
    path("health", health, name="health"),
    path("api/schema/", schema_view, name="schema"),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),  # unknown API paths: JSON 404, not Django's HTML page
    path("", include("tenants.web_urls")),
]
