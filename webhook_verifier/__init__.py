"""Verify Amazon SNS HTTP/S webhook deliveries in the subscriber's own service (no Django needed).

See README.md beside this file; the checks are described in ``verifier.py``.
"""
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

__all__ = ["SNSMessageVerifier", "InvalidSNSMessage", "MalformedMessage", "UnsupportedSignatureVersion", "InvalidCertificateURL", "CertificateError", "UnexpectedTopic", "InvalidTimestamp", "InvalidSignature", "SubscriptionConfirmationError", "string_to_sign", "parse_sns_host_region", "default_fetch_certificate"]
