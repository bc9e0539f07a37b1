"""Tests for webhooks.url_validation (no DNS: every resolver is a fake)."""

from __future__ import annotations

import socket

import pytest

from webhooks.url_validation import (
    MAX_URL_LENGTH,
    InvalidSubscriberURL,
    address_problem,
    validate_for_settings,
    validate_subscriber_url,
)

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class FakeResolver:
    """Maps host -> addresses; unknown hosts fail like getaddrinfo does. Records calls."""

    def __init__(self, table: dict[str, list[str]] | None = None):
        self.table = table or {}
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


def no_dns(host, port):  # literal IPs must never be resolved
    raise AssertionError(f"resolver called for {host!r}")


DNS = {
    "example.com": [PUBLIC_V4, PUBLIC_V6],
    "hooks.example.com": [PUBLIC_V4],
    "mixed.example.com": [PUBLIC_V4, "10.0.0.5"],
    "mixed6.example.com": [PUBLIC_V6, "fd00::1"],
    "rebind.example.com": ["169.254.169.254"],
    "metadata.google.internal": ["169.254.169.254"],
    "localhost": ["127.0.0.1", "::1"],
    "intranet.corp": ["192.168.1.20"],
    "empty.example.com": [],
}


def refused(url: str, **kwargs) -> str:
    kwargs.setdefault("resolve", FakeResolver(DNS))
    with pytest.raises(InvalidSubscriberURL) as exc:
        validate_subscriber_url(url, **kwargs)
    assert isinstance(exc.value, ValueError)
    assert exc.value.message == str(exc.value)
    return exc.value.message


# --------------------------------------------------------------------------
# Accepted
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,expected_lookup",
    [
        ("https://example.com/webhooks/acme", ("example.com", 443)),
        ("https://hooks.example.com:8443/in?tenant=acme", ("hooks.example.com", 8443)),
        ("HTTPS://Hooks.Example.com/in", ("hooks.example.com", 443)),
    ],
)
def test_public_hostnames_are_accepted(url, expected_lookup):
    resolver = FakeResolver(DNS)
    assert validate_subscriber_url(url, resolve=resolver) == url
    assert resolver.calls == [expected_lookup]


@pytest.mark.parametrize(
    "url",
    [
        f"https://{PUBLIC_V4}/hook",
        f"https://{PUBLIC_V4}:65535/hook",
        f"https://[{PUBLIC_V6}]/hook",
        "https://[2606:4700:4700::1111]:8443/hook",
    ],
)
def test_public_literal_ips_are_accepted_without_dns(url):
    assert validate_subscriber_url(url, resolve=no_dns) == url


# --------------------------------------------------------------------------
# Refused: URL shape
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,words",
    [
        ("http://example.com/hook", "must be https"),
        ("ftp://example.com/hook", "got 'ftp'"),
        ("gopher://example.com/", "got 'gopher'"),
        ("file:///etc/passwd", "got 'file'"),
        ("javascript:alert(1)", "got 'javascript'"),
        ("example.com/hook", "got '(none)'"),
        ("//example.com/hook", "got '(none)'"),
        ("https:example.com/hook", "absolute"),
        ("https:///hook", "host"),
        ("https://:443/hook", "host"),
        ("https://user:pass@example.com/hook", "credentials"),
        ("https://user@example.com/hook", "credentials"),
        ("https://example.com@10.0.0.1/hook", "credentials"),
        ("https://example.com/hook#section", "fragment"),
        ("https://example.com/hook#", "fragment"),
        ("https://example.com:0/hook", "port"),
        ("https://example.com:65536/hook", "port"),
        ("https://example.com:99999/hook", "port"),
        ("https://example.com:http/hook", "port"),
        ("https://example.com:-1/hook", "port"),
        ("https://exa mple.com/hook", "spaces"),
        (" https://example.com/hook", "spaces"),
        ("https://example.com/ho\nok", "control"),
        ("https://example.com\\@10.0.0.1/", "backslash"),
        ("https://exa_mple..com/hook", "not a valid host name"),
        ("https://-bad-.example.com/hook", "not a valid host name"),
    ],
)
def test_malformed_urls_are_refused(url, words):
    assert words in refused(url)


def test_too_long_url_is_refused():
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/") + 1)
    assert len(url) == MAX_URL_LENGTH + 1
    message = refused(url)
    assert "too long" in message and str(MAX_URL_LENGTH) in message


def test_url_of_exactly_max_length_is_accepted():
    url = "https://example.com/" + "a" * (MAX_URL_LENGTH - len("https://example.com/"))
    assert validate_subscriber_url(url, resolve=FakeResolver(DNS)) == url


@pytest.mark.parametrize("url", ["", None, 42])
def test_empty_or_non_string_is_refused(url):
    assert "required" in refused(url)


# --------------------------------------------------------------------------
# Refused: internal destinations (literal IPs, no DNS)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,words",
    [
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://169.254.0.1/", "link-local"),
        ("https://10.0.0.1/hook", "private"),
        ("https://10.255.255.255/hook", "private"),
        ("https://172.16.0.1/hook", "private"),
        ("https://172.31.255.254/hook", "private"),
        ("https://192.168.1.1/hook", "private"),
        ("https://100.64.0.1/hook", "shared address space"),
        ("https://100.127.255.254/hook", "shared address space"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://127.8.9.10/hook", "loopback"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://240.0.0.1/hook", "reserved"),
        ("https://255.255.255.255/hook", "reserved"),
        ("https://192.0.2.10/hook", "private"),  # TEST-NET-1 documentation range
        ("https://[::1]/hook", "loopback"),
        ("https://[::]/hook", "unspecified"),
        ("https://[fe80::1]/hook", "link-local"),
        ("https://[fe80::1%25eth0]/hook", "link-local"),
        ("https://[fc00::1]/hook", "unique-local"),
        ("https://[fd12:3456:789a::1]/hook", "unique-local"),
        ("https://[ff02::1]/hook", "multicast"),
        ("https://[::ffff:10.0.0.1]/hook", "IPv4-mapped IPv6 address of a private address"),
        ("https://[::ffff:169.254.169.254]/hook", "IPv4-mapped IPv6 address of a link-local"),
        ("https://[::ffff:127.0.0.1]/hook", "IPv4-mapped IPv6 address of a loopback"),
        ("https://[64:ff9b::a00:1]/hook", "NAT64 IPv6 address of a private"),
        ("https://[2002:a00:1::]/hook", "6to4 IPv6 address of a private"),
        ("https://[2001:db8::1]/hook", "private"),  # documentation range
    ],
)
def test_internal_literal_addresses_are_refused_without_dns(url, words):
    message = refused(url, resolve=no_dns)
    assert words in message
    assert "public address" in message


@pytest.mark.parametrize(
    "url",
    ["https://2130706433/", "https://0x7f.1/", "https://0177.0.0.1/", "https://127.1/", "https://10.1/"],
)
def test_legacy_numeric_hosts_are_refused(url):
    resolver = FakeResolver(DNS)
    assert "not a valid IP address or host name" in refused(url, resolve=resolver)
    assert resolver.calls == []


# --------------------------------------------------------------------------
# Refused: hostnames resolving to internal destinations
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,words",
    [
        ("https://mixed.example.com/hook", "resolves to 10.0.0.5, which is a private address"),
        ("https://mixed6.example.com/hook", "resolves to fd00::1, which is a unique-local address"),
        ("https://rebind.example.com/hook", "resolves to 169.254.169.254, which is a link-local"),
        ("https://metadata.google.internal/computeMetadata/v1/", "169.254.169.254"),
        ("https://localhost/hook", "resolves to 127.0.0.1, which is a loopback address"),
        ("https://intranet.corp/hook", "192.168.1.20"),
        ("https://does-not-exist.example/hook", "could not be resolved"),
        ("https://empty.example.com/hook", "could not be resolved"),
    ],
)
def test_hostnames_resolving_to_internal_addresses_are_refused(url, words):
    message = refused(url)
    assert words in message


def test_resolver_returning_garbage_is_refused():
    assert "not a valid IP address" in refused("https://x.example.com/", resolve=lambda h, p: ["not-an-ip"])


def test_resolver_errors_are_refused_not_raised():
    def broken(host, port):
        raise UnicodeError("label too long")

    assert "could not be resolved" in refused("https://example.com/", resolve=broken)


# --------------------------------------------------------------------------
# allow_insecure_local (local development subscribers)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9999/hook",
        "https://127.0.0.1:9999/hook",
        "http://[::1]:9999/hook",
        "http://localhost:8000/hook",
        "http://example.com/hook",
    ],
)
def test_insecure_local_allows_http_and_loopback(url):
    assert validate_subscriber_url(url, allow_insecure_local=True, resolve=FakeResolver(DNS)) == url


@pytest.mark.parametrize(
    "url,words",
    [
        ("http://10.0.0.1/hook", "private"),
        ("http://192.168.1.1:8000/hook", "private"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://100.64.0.1/hook", "shared address space"),
        ("http://0.0.0.0:9999/hook", "unspecified"),
        ("http://[fc00::1]/hook", "unique-local"),
        ("http://mixed.example.com/hook", "10.0.0.5"),
        ("ftp://127.0.0.1/hook", "got 'ftp'"),
        ("http://user:pw@127.0.0.1:9999/hook", "credentials"),
    ],
)
def test_insecure_local_still_refuses_internal_networks(url, words):
    assert words in refused(url, allow_insecure_local=True)


def test_loopback_and_http_refused_by_default():
    assert "must be https" in refused("http://127.0.0.1:9999/hook")
    assert "loopback" in refused("https://127.0.0.1:9999/hook")


def test_http_default_port_is_80_for_resolution():
    resolver = FakeResolver(DNS)
    validate_subscriber_url("http://localhost/hook", allow_insecure_local=True, resolve=resolver)
    assert resolver.calls == [("localhost", 80)]


# --------------------------------------------------------------------------
# address_problem (for connect-time re-checks)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address,allow_loopback,expected",
    [
        (PUBLIC_V4, False, None),
        (PUBLIC_V6, False, None),
        ("::ffff:8.8.8.8", False, None),
        ("127.0.0.1", False, "a loopback address"),
        ("127.0.0.1", True, None),
        ("::1", True, None),
        ("10.0.0.1", True, "a private address"),
        ("fe80::1%eth0", False, "a link-local address"),
        ("bogus", False, "not a valid IP address"),
    ],
)
def test_address_problem(address, allow_loopback, expected):
    assert address_problem(address, allow_loopback=allow_loopback) == expected


# --------------------------------------------------------------------------
# validate_for_settings
# --------------------------------------------------------------------------


@pytest.fixture
def webhook_settings(request, monkeypatch):
    """Set WEBHOOKS_ALLOW_INSECURE_LOCAL via pytest-django's ``settings`` when
    Django is configured, else via a stand-in ``django.conf.settings``."""
    use_django = False
    if request.config.pluginmanager.hasplugin("django"):
        from django.conf import settings as dj_settings

        use_django = dj_settings.configured
    if use_django:
        settings = request.getfixturevalue("settings")

        def set_flag(value):
            if value is None:
                if hasattr(settings, "WEBHOOKS_ALLOW_INSECURE_LOCAL"):
                    del settings.WEBHOOKS_ALLOW_INSECURE_LOCAL
            else:
                settings.WEBHOOKS_ALLOW_INSECURE_LOCAL = value

        return set_flag

    import types

    django_conf = pytest.importorskip("django.conf")
    fake = types.SimpleNamespace()
    monkeypatch.setattr(django_conf, "settings", fake)

    def set_flag(value):
        if value is None:
            fake.__dict__.pop("WEBHOOKS_ALLOW_INSECURE_LOCAL", None)
        else:
            fake.WEBHOOKS_ALLOW_INSECURE_LOCAL = value

    return set_flag


def test_validate_for_settings_defaults_to_strict(webhook_settings):
    webhook_settings(None)
    with pytest.raises(InvalidSubscriberURL, match="must be https"):
        validate_for_settings("http://127.0.0.1:9999/hook", resolve=no_dns)
    with pytest.raises(InvalidSubscriberURL, match="loopback"):
        validate_for_settings("https://127.0.0.1:9999/hook", resolve=no_dns)


def test_validate_for_settings_honours_insecure_local(webhook_settings):
    webhook_settings(True)
    assert validate_for_settings("http://127.0.0.1:9999/hook", resolve=no_dns) == "http://127.0.0.1:9999/hook"
    with pytest.raises(InvalidSubscriberURL, match="private"):
        validate_for_settings("http://10.0.0.1/hook", resolve=no_dns)


def test_validate_for_settings_false_is_strict(webhook_settings):
    webhook_settings(False)
    with pytest.raises(InvalidSubscriberURL, match="loopback"):
        validate_for_settings("https://127.0.0.1:9999/hook", resolve=no_dns)
