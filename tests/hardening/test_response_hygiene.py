"""Informational findings of the red team, decided and fixed:

* Pages and API answers carried no ``Cache-Control: no-store``: a shared computer's Back button or a
  proxy could show a person's data to the next one. Now every page and API answer says ``no-store``.
* Unknown ``/api/`` paths answered POST/DELETE from a browser with 403 ``csrf_failed`` (the CSRF check
  ran before the 404); they change nothing, so they answer 404 whatever the method.
"""
from __future__ import annotations

import pytest
from django.test import Client


def test_pages_and_api_answers_may_not_be_stored(tenant_a):
    for response in (Client().get("/login/"), tenant_a.admin.client().get("/api/v1/me"),
                     tenant_a.admin.client().get("/api/v1/products")):
        assert response.status_code == 200
        assert "no-store" in response.get("Cache-Control", ""), f"Cache-Control: {response.get('Cache-Control')}"


@pytest.mark.parametrize("method", ["post", "delete", "put", "patch"])
def test_unknown_api_paths_are_404_for_browsers_too(method):
    browser = Client(enforce_csrf_checks=True)  # as a real browser: Django's CSRF check is on
    response = getattr(browser, method)("/api/v1/no-such-thing")
    assert response.status_code == 404, f"{method.upper()} answered {response.status_code}: {response.content[:80]}"
    assert response.json()["code"] == "not_found"
