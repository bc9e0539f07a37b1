"""Verify webhook deliveries in the subscriber's own service (no Django needed; Python >= 3.9).

Endpoints: Standard Webhooks signatures (``verify_webhook``, standard library only). Legacy SNS
HTTP/S subscriptions: ``SNSMessageVerifier`` (``cryptography`` and ``requests``). See README.md.
"""
from .standard import InvalidWebhook, verify_webhook

try:  # the legacy SNS verifier needs cryptography and requests; verify_webhook needs neither
    from .verifier import (
        CertificateError,
        InvalidCertificateURL,
        InvalidSignature,
        InvalidSNSMessage,
        InvalidTimestamp,
        MalformedMessage,
        SNSMessageVerifier,
        SubscriptionConfirmationError,
        UnexpectedTopic,
        UnsupportedSignatureVersion,
        default_fetch_certificate,
        parse_sns_host_region,
        string_to_sign,
    )
except ImportError:  # e.g. the minimum-Python test: a bare 3.9 without them
    pass

REQUIRES_PYTHON = ">=3.9"  # the tests run verify_webhook on 3.9; no "Z"-parsing fromisoformat, no match

__all__ = ["verify_webhook", "InvalidWebhook", "REQUIRES_PYTHON", "SNSMessageVerifier", "InvalidSNSMessage", "MalformedMessage", "UnsupportedSignatureVersion", "InvalidCertificateURL", "CertificateError", "UnexpectedTopic", "InvalidTimestamp", "InvalidSignature", "SubscriptionConfirmationError", "string_to_sign", "parse_sns_host_region", "default_fetch_certificate"]
