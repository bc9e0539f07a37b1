from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from saas.health import health

api_v1 = [
    path("", include("tenants.urls")),
    path("products", include("products.urls")),
    path("orders", include("orders.urls")),
    path("webhooks/", include("webhooks.urls")),
]

urlpatterns = [
    path("health", health, name="health"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/v1/", include(api_v1)),
    path("", include("tenants.web_urls")),
]
