"""Special-purpose address ranges that ``ipaddress.is_global`` misses in
Python 3.11 were accepted as webhook targets (``192.0.0.8`` got a 201). An explicit deny list of the
IANA special-purpose registries now refuses them, also when embedded in NAT64 / mapped IPv6."""
from __future__ import annotations

import pytest

from webhooks.url_validation import address_problem

SPECIAL = [
    "192.0.0.8", "192.0.0.9", "192.0.0.1", "192.88.99.1", "192.31.196.1", "192.52.193.1", "192.175.48.1",
    "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "0.1.2.3",
    "fec0::1", "ff02::1", "ff0e::1", "3fff::1", "2001:db8::1", "2001:2::1", "100::1",
    "64:ff9b::c000:8", "64:ff9b::a00:1", "64:ff9b::7f00:1", "64:ff9b:1::a00:1", "::ffff:192.0.0.8",
]


@pytest.mark.pure
@pytest.mark.parametrize("address", SPECIAL)
def test_special_purpose_addresses_are_refused(address):
    assert address_problem(address) is not None
    assert address_problem(address, allow_loopback=True) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_still_accepted(address):
    assert address_problem(address) is None


@pytest.mark.parametrize("address", ["192.0.0.8", "192.88.99.1", "[fec0::1]", "[64:ff9b::c000:8]", "239.1.2.3"])
def test_the_api_refuses_them(tenant_a, address):
    response = tenant_a.admin.client().post(
        "/api/v1/webhooks/subscriptions", {"event_type": "order.created", "url": f"https://{address}/hook"},
        format="json")
    assert response.status_code == 400
    assert "url" in response.json()["fields"]
