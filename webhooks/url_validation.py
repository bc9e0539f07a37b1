"""Validation of webhook subscriber URLs (server-side request forgery guard).

``validate_subscriber_url`` is pure: DNS resolution is injectable and the only
setting (whether local development subscribers are allowed) is a parameter.
``validate_for_settings`` is the thin Django-aware wrapper used by the API; it
reads ``settings.WEBHOOKS_ALLOW_INSECURE_LOCAL`` (default ``False``).

Rules (each refusal raises :class:`InvalidSubscriberURL` with a human message):

* at most 2048 characters, no whitespace/control characters/backslashes;
* scheme ``https`` (``http`` only when ``allow_insecure_local``);
* a host is required; no userinfo (``user:pass@``); no fragment;
* port, if given, within 1..65535;
* the host -- a literal IP, or every address a hostname resolves to -- must be
  public: every range of the IANA special-purpose registries (an explicit list,
  ``_SPECIAL_PURPOSE``, because ``ipaddress.is_global`` misses some), private, loopback, link-local (incl. 169.254.169.254), reserved,
  multicast, unspecified, shared address space (100.64.0.0/10), unique-local
  IPv6, and IPv6 forms embedding such IPv4 addresses (IPv4-mapped, NAT64,
  6to4) are refused.  With ``allow_insecure_local`` loopback (127.0.0.0/8,
  ::1) is accepted, nothing else is;
* a host that does not resolve is refused; non-canonical numeric hosts such
  as ``0x7f.1`` or ``2130706433`` are refused outright.

Validation at registration time does not stop DNS rebinding: the delivery
code should re-check the address it actually connects to (see
:func:`address_problem`).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from typing import Callable, Iterable
from urllib.parse import urlsplit

__all__ = [
    "InvalidSubscriberURL",
    "MAX_URL_LENGTH",
    "validate_subscriber_url",
    "validate_for_settings",
    "address_problem",
    "default_resolve",
]

MAX_URL_LENGTH = 2048

Resolver = Callable[[str, int], Iterable[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class InvalidSubscriberURL(ValueError):
    """The subscriber URL is refused; ``message`` says why, for the API user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# The IANA special-purpose address registries, listed explicitly: Python 3.11's ``is_global`` /
# ``is_private`` miss several of them (192.0.0.0/24 outside .170/31, the AS112 and AMT blocks, the
# 6to4 relay anycast, 3fff::/20, ...). Everything here is refused whatever ``ipaddress`` says.
_SPECIAL_PURPOSE = [(ipaddress.ip_network(net), label) for net, label in (
    ("0.0.0.0/8", "a 'this network' address"),
    ("10.0.0.0/8", "a private address"),
    ("100.64.0.0/10", "a shared address space (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    ("169.254.0.0/16", "a link-local address"),
    ("172.16.0.0/12", "a private address"),
    ("192.0.0.0/24", "an IETF protocol assignment address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.31.196.0/24", "an AS112 address"),
    ("192.52.193.0/24", "an AMT address"),
    ("192.88.99.0/24", "a 6to4 relay anycast address"),
    ("192.168.0.0/16", "a private address"),
    ("192.175.48.0/24", "an AS112 address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("240.0.0.0/4", "a reserved address"),
    ("::/128", "an unspecified address"),
    ("::1/128", "a loopback address"),
    ("64:ff9b:1::/48", "a local-use NAT64 address"),
    ("100::/64", "a discard-only address"),
    ("2001::/23", "an IETF protocol assignment address"),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
    ("5f00::/16", "a segment-routing (SRv6) address"),
    ("fc00::/7", "a unique-local address"),
    ("fe80::/10", "a link-local address"),
    ("fec0::/10", "a site-local address"),
    ("ff00::/8", "a multicast address"),
)]
_UNSAFE_CHARS_RE = re.compile(r"[\x00-\x20\x7f\\]")
# Hosts that some resolvers read as IPv4 in legacy notation (hex, octal,
# integer, fewer than four parts): refuse rather than guess.
_NUMERIC_HOST_RE = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]*))*\.?$", re.I)
_HOST_LABEL_RE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$", re.I)


def default_resolve(host: str, port: int) -> list[str]:
    """Resolve ``host`` with ``socket.getaddrinfo``; return the distinct addresses."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def address_problem(address: str | IPAddress, *, allow_loopback: bool = False) -> str | None:  # noqa: C901 - one flat list of address-range checks
    """Return why ``address`` must not be contacted (e.g. ``"a private address"``), or None.

    Also usable by the delivery code to check the peer address at connect time.
    """
    if isinstance(address, str):
        try:
            ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return "not a valid IP address"
    else:
        ip = address

    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped
        label = "an IPv4-mapped IPv6 address of"
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
            label = "a NAT64 IPv6 address of"
        if embedded is None and ip.sixtofour is not None:
            embedded = ip.sixtofour
            label = "a 6to4 IPv6 address of"
        if embedded is not None:
            # Loopback is never fine behind a translation: that is some other host's loopback.
            inner = address_problem(embedded, allow_loopback=False)
            return f"{label} {inner}" if inner else None

    if ip.is_loopback:
        return None if allow_loopback else "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED_ADDRESS_SPACE:
        return "a shared address space (carrier-grade NAT) address"
    if isinstance(ip, ipaddress.IPv6Address) and ip in ipaddress.ip_network("fc00::/7"):
        return "a unique-local address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    for network, label in _SPECIAL_PURPOSE:
        if ip.version == network.version and ip in network:
            return label
    if not ip.is_global:
        return "a non-public address"
    return None


def _host_is_valid_name(host: str) -> bool:
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    if len(ascii_host) > 253:
        return False
    labels = ascii_host[:-1].split(".") if ascii_host.endswith(".") else ascii_host.split(".")
    return all(_HOST_LABEL_RE.match(label) for label in labels)


def validate_subscriber_url(  # noqa: C901 - the URL rules in reading order
    url: str,
    *,
    allow_insecure_local: bool = False,
    resolve: Resolver | None = None,
) -> str:
    """Return ``url`` unchanged if it is an acceptable subscriber URL.

    :param allow_insecure_local: allow ``http`` and loopback hosts (local
        development subscribers).  Private and other internal ranges stay refused.
    :param resolve: ``(host, port) -> addresses``; defaults to
        :func:`default_resolve` (``socket.getaddrinfo``).  Not called for
        literal IP hosts.
    :raises InvalidSubscriberURL: with a message naming the problem.
    """
    if not isinstance(url, str) or not url:
        raise InvalidSubscriberURL("URL is required.")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidSubscriberURL(
            f"URL is too long ({len(url)} characters); the maximum is {MAX_URL_LENGTH}."
        )
    if _UNSAFE_CHARS_RE.search(url):
        raise InvalidSubscriberURL(
            "URL must not contain spaces, control characters or backslashes."
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidSubscriberURL(f"URL could not be parsed: {exc}.") from None

    scheme = parts.scheme.lower()
    allowed = ("https", "http") if allow_insecure_local else ("https",)
    if scheme not in allowed:
        if scheme == "http":
            raise InvalidSubscriberURL("URL scheme must be https; plain http is not allowed.")
        shown = scheme or "(none)"
        raise InvalidSubscriberURL(f"URL scheme must be https (got '{shown}').")
    if not url.lower().startswith(f"{scheme}://"):
        raise InvalidSubscriberURL("URL must be absolute, like https://example.com/webhook.")
    if "@" in parts.netloc:
        raise InvalidSubscriberURL(
            "URL must not contain credentials (user:password@); "
            "use the webhook signing secret to authenticate deliveries."
        )
    if "#" in url:
        raise InvalidSubscriberURL("URL must not contain a fragment (#...).")

    host = parts.hostname or ""
    if not host:
        raise InvalidSubscriberURL("URL must include a host name.")
    try:
        port = parts.port
    except ValueError:
        raise InvalidSubscriberURL("URL port must be a number between 1 and 65535.") from None
    if port is not None and not 1 <= port <= 65535:
        raise InvalidSubscriberURL("URL port must be a number between 1 and 65535.")
    if port is None:
        port = 443 if scheme == "https" else 80

    literal: IPAddress | None
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
        if "%" in host and ":" in host:
            raise InvalidSubscriberURL("URL host must not be an IPv6 address with a zone.") from None

    if literal is not None:
        problem = address_problem(literal, allow_loopback=allow_insecure_local)
        if problem:
            raise InvalidSubscriberURL(
                f"URL host {literal} is {problem}; webhook URLs must point to a public address."
            )
        return url

    if _NUMERIC_HOST_RE.match(host):
        raise InvalidSubscriberURL(
            f"URL host '{host}' is not a valid IP address or host name."
        )
    if not _host_is_valid_name(host):
        raise InvalidSubscriberURL(f"URL host '{host}' is not a valid host name.")

    resolver = resolve or default_resolve
    try:
        addresses = [str(a) for a in resolver(host, port)]
    except (OSError, UnicodeError, ValueError):
        addresses = []
    if not addresses:
        raise InvalidSubscriberURL(f"URL host '{host}' could not be resolved.")

    for address in addresses:
        problem = address_problem(address, allow_loopback=allow_insecure_local)
        if problem:
            raise InvalidSubscriberURL(
                f"URL host '{host}' resolves to {address}, which is {problem}; "
                "webhook URLs must point to a public address."
            )
    return url


def validate_for_settings(url: str, *, resolve: Resolver | None = None) -> str:
    """``validate_subscriber_url`` with ``settings.WEBHOOKS_ALLOW_INSECURE_LOCAL``."""
    from django.conf import settings

    allow = bool(getattr(settings, "WEBHOOKS_ALLOW_INSECURE_LOCAL", False))
    return validate_subscriber_url(url, allow_insecure_local=allow, resolve=resolve)
