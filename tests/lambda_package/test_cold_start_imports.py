"""What a cold container of the built package imports to answer ``/health``, a first authenticated
API read and a sign-in page: none of the libraries only other work needs (enqueueing a job, sending
mail, describing the API). Each of them is tens of milliseconds of every cold start (the figures
are ``bench/bench_cold_start.py``'s); this test only says which modules were loaded, so a change
that imports one of them eagerly again fails here rather than in a timing."""
from __future__ import annotations

import re

from devstack import lambda_local
from tests.lambda_package.test_packaged_handler import local_endpoints, publish_stage_configuration, stage_table

# Loaded on first use only: Celery and its stack (the first enqueue), drf-spectacular's schema
# machinery with django.test/unittest (the first /api/schema/), django-ses (sending mail, in the
# worker), and the optional libraries DRF imports when they are installed (requests: its test
# client; yaml: its OpenAPI renderer; uritemplate: its schema generator).
NOT_ON_A_COLD_REQUEST = ("celery", "kombu", "amqp", "billiard", "click", "yaml", "drf_spectacular.openapi",
                         "drf_spectacular.plumbing", "rest_framework.test", "django.test", "unittest", "django_ses",
                         "requests", "uritemplate")

IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+\d+ \|\s*(\S+)")


def imported_modules(stderr: str) -> set[str]:
    """Every module the process imported (``-X importtime`` reports each one on its first import;
    a package ``saas.lazy_imports`` defers is seen by its submodules, which its code imports)."""
    return {match[1] for match in map(IMPORT_LINE.match, stderr.splitlines()) if match}


def loaded(modules: set[str], names) -> list[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one of them."""
    return sorted(m for m in modules if any(m == name or m.startswith(name + ".") for name in names))


def test_a_cold_container_serves_health_an_api_read_and_a_page_without_the_deferred_libraries(task_roots, make_user):
    stage_table("dev")
    publish_stage_configuration("dev")
    user = make_user()
    events = [lambda_local.api_gateway_event("/health"),
              lambda_local.api_gateway_event("/api/v1/me", headers={"Authorization": f"Bearer {user.id_token}"}),
              lambda_local.api_gateway_event("/login/")]
    outcome = lambda_local.invoke_many(events, task_root=task_roots["dev"], env=local_endpoints(),
                                       handler=lambda_local.configured_handler("dev"), python_args=("-X", "importtime"))
    assert [r["response"]["statusCode"] for r in outcome["results"]] == [200, 200, 200], outcome["stderr"][-3000:]
    modules = imported_modules(outcome["stderr"])
    # The report is complete: what the three requests need is in it (Django, DRF, the token check).
    assert {"django.core.handlers.wsgi", "rest_framework.views", "jwt", "saas.celery"} <= modules
    unneeded = loaded(modules, NOT_ON_A_COLD_REQUEST)
    assert not unneeded, f"a cold request imported modules it does not need: {unneeded}"


def test_the_deferred_libraries_load_when_their_work_comes(task_roots):
    """The other side: the first schema request loads drf-spectacular's AutoSchema (and yaml to
    render it) in the same kind of cold container, and describes the API."""
    stage_table("dev")
    publish_stage_configuration("dev")
    outcome = lambda_local.invoke_many([lambda_local.api_gateway_event("/api/schema/")], task_root=task_roots["dev"],
                                       env=local_endpoints(), handler=lambda_local.configured_handler("dev"),
                                       python_args=("-X", "importtime"))
    assert outcome["results"][0]["response"]["statusCode"] == 200, outcome["stderr"][-3000:]
    modules = imported_modules(outcome["stderr"])
    assert loaded(modules, ["drf_spectacular.openapi"]) and loaded(modules, ["yaml"]) and loaded(modules, ["uritemplate"])


# Every API and page module of the apps, and DRF's view stack.
APP_REQUEST_MODULES = ("tenants.apis", "tenants.views", "products.apis", "products.views", "orders.apis", "orders.views",
                       "orders.services", "webhooks.apis", "webhooks.views", "webhooks.services", "rest_framework.views")


def test_a_cold_container_imports_only_the_urlconfs_its_first_request_walks_through(task_roots, make_user):
    """The root URLconf names each app's URLconf instead of importing it (``saas.urls.path_on_use``)
    and the apps' hooks load their services when first called: a cold ``/health`` imports no app
    module at all, and a cold API read of the tenants app imports that app's API but no other app's
    API, page or service module (the first page's links, which need ``reverse()``, import the rest)."""
    stage_table("dev")
    publish_stage_configuration("dev")
    user = make_user()
    for first_request, needed in ((lambda_local.api_gateway_event("/health"), ()),
                                  (lambda_local.api_gateway_event("/api/v1/me", headers={
                                      "Authorization": f"Bearer {user.id_token}"}), ("tenants.apis", "rest_framework.views"))):
        outcome = lambda_local.invoke_many([first_request], task_root=task_roots["dev"], env=local_endpoints(),
                                           handler=lambda_local.configured_handler("dev"),
                                           python_args=("-X", "importtime"))
        assert outcome["results"][0]["response"]["statusCode"] == 200, outcome["stderr"][-3000:]
        assert loaded(imported_modules(outcome["stderr"]), APP_REQUEST_MODULES) == sorted(needed), first_request["path"]
