from django.urls import URLResolver, include, path, re_path
from django.urls.resolvers import RoutePattern
from django.views.decorators.csrf import csrf_exempt

from saas.health import health


def path_on_use(route: str, urlconf: str) -> URLResolver:
    """``path(route, include(urlconf))``, except that ``urlconf`` is imported when a request's path
    first reaches it, not with this module: Django's URLResolver imports a URLconf given by name on
    first use, as it does ROOT_URLCONF. A cold start then pays only for the URLconfs its first
    request walks through; the first ``reverse()`` (every page's links) still imports them all."""
    return URLResolver(RoutePattern(route, is_endpoint=False), urlconf)


@csrf_exempt  # as the view it loads: any method on an unknown API path gets the 404, not a CSRF 403
def api_not_found(request, *args, **kwargs):
    from saas.exceptions import api_not_found as view  # with DRF's view stack: only when an API path is unknown

    return view(request, *args, **kwargs)


def schema_view(request, *args, **kwargs):
    # drf-spectacular's view module costs ~0.2 s to import; keep it off the Lambda cold start.
    from drf_spectacular.views import SpectacularAPIView

    return SpectacularAPIView.as_view()(request, *args, **kwargs)


def api_docs_view(request, *args, **kwargs):
    """Swagger UI over /api/schema/, served by the app itself (drf-spectacular-sidecar, no CDN).

    Its init script is a separate request (no inline script); Swagger UI sets inline styles, so this
    page alone allows them."""
    from csp.constants import UNSAFE_INLINE
    from drf_spectacular.views import SpectacularSwaggerSplitView

    response = SpectacularSwaggerSplitView.as_view(url_name="schema", title="SaaS Commerce API")(
        request, *args, **kwargs)
    response._csp_update = {"style-src": [UNSAFE_INLINE]}
    return response


api_v1 = [
    path_on_use("", "tenants.urls"),
    path_on_use("products", "products.urls"),
    path_on_use("orders", "orders.urls"),
    path_on_use("webhooks/", "webhooks.urls"),
]

urlpatterns = [
    path("health", health, name="health"),
    path("api/schema/", schema_view, name="schema"),
    path("api/docs/", api_docs_view, name="api-docs"),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", api_not_found),  # unknown API paths: JSON 404, not Django's HTML page
    # The web app: each app's pages (views.py + web_urls.py + templates).
    path_on_use("catalogue/", "products.web_urls"),
    path_on_use("orders/", "orders.web_urls"),
    path_on_use("webhooks/", "webhooks.web_urls"),
    path_on_use("", "tenants.web_urls"),
]

handler400 = "saas.web.bad_request"
handler403 = "saas.web.permission_denied"
handler404 = "saas.web.page_not_found"
handler500 = "saas.web.server_error"
