"""SSRF-safe HTTP delivery to a tenant-given URL.

The host is resolved once; every address is checked against the range table of
``url_validation.address_problem``; the connection goes to the first checked address (so a DNS
answer that changes between check and connect is never used), with the URL's host as ``Host``
header, TLS SNI (``server_hostname``) and certificate name (``assert_hostname``). No redirect is
followed (a 3xx is a failed attempt), at most ``RESPONSE_CAP`` bytes of the response are read, and
the whole attempt is bounded by ``timeout`` (urllib3's ``Timeout(total=...)`` for connect + read,
plus a wall-clock check after the read).

With ``settings.WEBHOOKS_EGRESS_PROXY`` set, requests go through that forward proxy instead (a
fixed egress address subscribers can allow-list; the proxy, e.g. Smokescreen, enforces the address
rules itself since it resolves the name).

urllib3 (already a dependency through botocore) does the HTTP; only the address pinning is ours.
"""
from __future__ import annotations

import ssl
import time
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import urlsplit

import certifi
import urllib3
from django.conf import settings

from .url_validation import address_problem, default_resolve

RESPONSE_CAP = 1024
Resolver = Callable[[str, int], Iterable[str]]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None  # None: no HTTP answer
    response: str  # first RESPONSE_CAP bytes, decoded leniently
    latency_ms: int
    error: str | None  # error class: refused_address, dns, timeout, connection, tls, redirect, http_<code>


class Refused(Exception):
    """The host resolves to an address delivery must never contact."""


def _resolver() -> Resolver:
    from django.utils.module_loading import import_string

    return import_string(settings.WEBHOOKS_RESOLVER) if settings.WEBHOOKS_RESOLVER else default_resolve


def pinned_address(host: str, port: int, *, resolve: Resolver | None = None, allow_loopback: bool = False) -> str:
    """Resolve once and check every address; the first one is where we connect."""
    try:
        import ipaddress

        return _checked([str(ipaddress.ip_address(host))], allow_loopback)
    except ValueError:
        pass
    addresses = [str(a) for a in (resolve or _resolver())(host, port)]
    if not addresses:
        raise OSError(f"{host} did not resolve")
    return _checked(addresses, allow_loopback)


def _checked(addresses: list[str], allow_loopback: bool) -> str:
    for address in addresses:
        problem = address_problem(address, allow_loopback=allow_loopback)
        if problem:
            raise Refused(f"resolves to {address}, which is {problem}")
    return addresses[0]


def post(url: str, *, body: bytes, headers: dict[str, str], resolve: Resolver | None = None,
         timeout: float | None = None) -> Outcome:
    timeout = settings.WEBHOOKS_DELIVERY_TIMEOUT_SECONDS if timeout is None else timeout
    started = time.monotonic()

    def outcome(status: int | None, text: str, error: str | None) -> Outcome:
        return Outcome(status, text, int((time.monotonic() - started) * 1000), error)

    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), parts.hostname or ""
    port = parts.port or (443 if scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    default_port = (scheme == "https" and port == 443) or (scheme == "http" and port == 80)
    host_header = (f"[{host}]" if ":" in host else host) + ("" if default_port else f":{port}")
    request_headers = {**headers, "Host": host_header, "Content-Type": "application/json",
                       "User-Agent": "saas-commerce-webhooks/1"}
    budget = urllib3.Timeout(total=timeout)
    try:
        if settings.WEBHOOKS_EGRESS_PROXY:
            pool = urllib3.ProxyManager(settings.WEBHOOKS_EGRESS_PROXY, ca_certs=certifi.where(), retries=False)
            response = pool.urlopen("POST", url, body=body, headers=request_headers, redirect=False,
                                    retries=False, timeout=budget, preload_content=False)
        else:
            address = pinned_address(host, port, resolve=resolve,
                                     allow_loopback=bool(settings.WEBHOOKS_ALLOW_INSECURE_LOCAL))
            if scheme == "https":
                connection_pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
                    address, port, server_hostname=host, assert_hostname=host, cert_reqs="CERT_REQUIRED",
                    ca_certs=certifi.where(), timeout=budget, retries=False, maxsize=1)
            else:
                connection_pool = urllib3.HTTPConnectionPool(address, port, timeout=budget, retries=False, maxsize=1)
            with connection_pool:
                response = connection_pool.urlopen("POST", path, body=body, headers=request_headers,
                                                   redirect=False, retries=False, timeout=budget,
                                                   preload_content=False, assert_same_host=False)
                return _read(response, outcome, started, timeout)
        return _read(response, outcome, started, timeout)
    except Refused:
        return outcome(None, "", "refused_address")
    except OSError as exc:
        if isinstance(exc, ssl.SSLError):
            return outcome(None, "", "tls")
        return outcome(None, "", "dns" if "resolve" in str(exc) else "connection")
    except urllib3.exceptions.TimeoutError:
        return outcome(None, "", "timeout")
    except urllib3.exceptions.SSLError:
        return outcome(None, "", "tls")
    except urllib3.exceptions.HTTPError:
        return outcome(None, "", "connection")


def _read(response, outcome, started: float, timeout: float) -> Outcome:
    try:
        text = response.read(RESPONSE_CAP).decode("utf-8", "replace")
    finally:
        response.release_conn()
        response.close()
    status = response.status
    if time.monotonic() - started > timeout:
        return outcome(status, text, "timeout")
    if 200 <= status < 300:
        return outcome(status, text, None)
    return outcome(status, text, "redirect" if 300 <= status < 400 else f"http_{status}")
