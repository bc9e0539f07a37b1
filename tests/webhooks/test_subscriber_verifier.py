"""Tests for webhook_verifier.SNSMessageVerifier.

No network: the test owns an RSA key and a self-signed certificate, builds SNS
messages the way AWS documents them, signs them itself (independently of the
module's own string-to-sign code) and serves the certificate via the injected
``fetch_certificate``.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from webhook_verifier import (
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
)

pytestmark = pytest.mark.pure  # no server: runs with -m "not integration"

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
TOPIC = "arn:aws:sns:us-east-1:123456789012:acme-orders"
OTHER_TOPIC = "arn:aws:sns:us-east-1:999999999999:someone-else"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
SUBSCRIBE_URL = (
    "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a"
)
SUBSCRIPTION_ARN = f"{TOPIC}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
CONFIRM_RESPONSE = f"""<ConfirmSubscriptionResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <ConfirmSubscriptionResult>
    <SubscriptionArn>{SUBSCRIPTION_ARN}</SubscriptionArn>
  </ConfirmSubscriptionResult>
  <ResponseMetadata><RequestId>075ecce8-8dac-11e1-bf80-f781d96e9307</RequestId></ResponseMetadata>
</ConfirmSubscriptionResponse>"""


# --------------------------------------------------------------------------
# Key, certificate and message helpers
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_cert_pem(key, *, not_before: datetime, not_after: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def cert_pem(rsa_key):
    return make_cert_pem(rsa_key, not_before=NOW - timedelta(days=30), not_after=NOW + timedelta(days=30))


class FakeFetcher:
    """Serves PEM bytes for any URL and records every URL it was asked for."""

    def __init__(self, pem: bytes):
        self.pem = pem
        self.calls: list[str] = []

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.pem


class FakeResponse:
    def __init__(self, text: str, status_code: int = 200):
        self.text = text
        self.status_code = status_code


class FakeSession:
    def __init__(self, response: FakeResponse | None = None):
        self.response = response or FakeResponse(CONFIRM_RESPONSE)
        self.calls: list[tuple[str, dict]] = []

    def get(self, url, **kwargs):
        self.calls.append((url, kwargs))
        return self.response


def aws_string_to_sign(msg: dict) -> str:
    """Canonical string exactly as the AWS SNS developer guide describes it."""
    if msg["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    return "".join(f"{k}\n{msg[k]}\n" for k in keys if k in msg)


def sign(msg: dict, key, version: str = "1") -> dict:
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(aws_string_to_sign(msg).encode("utf-8"), padding.PKCS1v15(), algorithm)
    signed = dict(msg)
    signed["SignatureVersion"] = version
    signed["Signature"] = base64.b64encode(signature).decode("ascii")
    return signed


def ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def notification(*, subject: str | None = "order.created", topic: str = TOPIC, when: datetime = NOW,
                 cert_url: str = CERT_URL, envelope: dict | None = None) -> dict:
    msg = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Message": json.dumps(envelope or {"id": "evt_1", "type": "order.created", "data": {"order": 42}}),
        "Timestamp": ts(when),
        "SigningCertURL": cert_url,
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    if subject is not None:
        msg["Subject"] = subject
    return msg


def confirmation(*, msg_type: str = "SubscriptionConfirmation", subscribe_url: str = SUBSCRIBE_URL,
                 cert_url: str = CERT_URL, when: datetime = NOW) -> dict:
    return {
        "Type": msg_type,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": subscribe_url,
        "Timestamp": ts(when),
        "SigningCertURL": cert_url,
    }


@pytest.fixture
def fetcher(cert_pem):
    return FakeFetcher(cert_pem)


@pytest.fixture
def session():
    return FakeSession()


@pytest.fixture
def verifier(fetcher, session):
    return SNSMessageVerifier(
        expected_topic_arns={TOPIC},
        fetch_certificate=fetcher,
        clock=lambda: NOW,
        http_session=session,
    )


# --------------------------------------------------------------------------
# Authentic messages are accepted
# --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda: notification(), id="notification-with-subject"),
        pytest.param(lambda: notification(subject=None), id="notification-without-subject"),
        pytest.param(lambda: confirmation(), id="subscription-confirmation"),
        pytest.param(lambda: confirmation(msg_type="UnsubscribeConfirmation"), id="unsubscribe-confirmation"),
    ],
)
def test_valid_signed_messages_are_accepted(verifier, fetcher, rsa_key, build, version):
    msg = sign(build(), rsa_key, version)
    assert verifier.verify(msg) == msg
    assert verifier.verify(json.dumps(msg)) == msg  # raw JSON body works too
    assert verifier.verify(json.dumps(msg).encode()) == msg
    assert fetcher.calls == [CERT_URL]  # fetched once, then cached


def test_china_partition_cert_host_is_accepted(rsa_key, cert_pem):
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-abc.pem"
    fetcher = FakeFetcher(cert_pem)
    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, fetch_certificate=fetcher, clock=lambda: NOW)
    msg = sign(notification(cert_url=url), rsa_key, "2")
    assert v.verify(msg)["MessageId"] == msg["MessageId"]
    assert fetcher.calls == [url]


def test_configured_region_must_match_cert_host(rsa_key, fetcher):
    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, region="eu-west-1",
                           fetch_certificate=fetcher, clock=lambda: NOW)
    with pytest.raises(InvalidCertificateURL) as exc:
        v.verify(sign(notification(), rsa_key))
    assert exc.value.reason == "bad_cert_url"
    assert "eu-west-1" in str(exc.value)
    assert fetcher.calls == []


# --------------------------------------------------------------------------
# Forgeries and tampering
# --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_tampered_message_is_rejected(verifier, rsa_key, version):
    msg = sign(notification(), rsa_key, version)
    msg["Message"] = json.dumps({"id": "evt_1", "type": "order.refunded", "data": {"order": 42}})
    with pytest.raises(InvalidSignature) as exc:
        verifier.verify(msg)
    assert exc.value.reason == "bad_signature"


@pytest.mark.parametrize("field,value", [("Subject", "order.refunded"), ("MessageId", "other"),
                                         ("Type", "Notification ")])
def test_tampered_signed_fields_are_rejected(verifier, rsa_key, field, value):
    msg = sign(notification(), rsa_key)
    msg[field] = value
    with pytest.raises(InvalidSNSMessage):
        verifier.verify(msg)


def test_removing_subject_breaks_the_signature(verifier, rsa_key):
    msg = sign(notification(), rsa_key)
    del msg["Subject"]
    with pytest.raises(InvalidSignature):
        verifier.verify(msg)


def test_signature_by_another_key_is_rejected(verifier):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(InvalidSignature):
        verifier.verify(sign(notification(), other))


def test_v1_signature_presented_as_v2_is_rejected(verifier, rsa_key):
    msg = sign(notification(), rsa_key, "1")
    msg["SignatureVersion"] = "2"
    with pytest.raises(InvalidSignature):
        verifier.verify(msg)


def test_garbage_signature_is_rejected(verifier, rsa_key):
    msg = sign(notification(), rsa_key)
    msg["Signature"] = "not base64!!"
    with pytest.raises(InvalidSignature):
        verifier.verify(msg)


def test_wrong_topic_is_rejected_without_fetching(verifier, fetcher, rsa_key):
    with pytest.raises(UnexpectedTopic) as exc:
        verifier.verify(sign(notification(topic=OTHER_TOPIC), rsa_key))
    assert exc.value.reason == "unexpected_topic"
    assert OTHER_TOPIC in str(exc.value)
    assert fetcher.calls == []


@pytest.mark.parametrize(
    "cert_url",
    [
        pytest.param("http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem", id="http"),
        pytest.param("https://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.crt", id="not-pem"),
        pytest.param("https://sns.us-east-1.amazonaws.com/x.pem?evil=1", id="query"),
        pytest.param("https://sns.us-east-1.amazonaws.com/x.pem#frag", id="fragment"),
        pytest.param("https://sns.us-east-1.amazonaws.com.evil.com/x.pem", id="suffix-host"),
        pytest.param("https://sns.us-east-1.amazonaws.com.cn.evil.com/x.pem", id="cn-suffix-host"),
        pytest.param("https://evil.com/sns.us-east-1.amazonaws.com.pem", id="host-in-path"),
        pytest.param("https://sns.us-east-1.amazonaws.com@evil.com/x.pem", id="userinfo-host"),
        pytest.param("https://user:pw@sns.us-east-1.amazonaws.com/x.pem", id="userinfo"),
        pytest.param("https://evil.com\\@sns.us-east-1.amazonaws.com/x.pem", id="backslash"),
        pytest.param("https://sns.us-east-1.amazonaws.com:8443/x.pem", id="port"),
        pytest.param("https://evilsns.us-east-1.amazonaws.com/x.pem", id="prefix-host"),
        pytest.param("https://sns.us-east-1.amazonaws.com./x.pem", id="trailing-dot"),
        pytest.param("https://sqs.us-east-1.amazonaws.com/x.pem", id="other-service"),
        pytest.param("https://sns.evil.amazonaws.com/x.pem", id="bad-region"),
        pytest.param("//sns.us-east-1.amazonaws.com/x.pem", id="scheme-relative"),
        pytest.param("file:///etc/ssl/x.pem", id="file"),
    ],
)
def test_bad_cert_urls_are_rejected_before_fetching(verifier, fetcher, rsa_key, cert_url):
    # SigningCertURL is not covered by the signature, so an attacker controls it.
    msg = sign(notification(cert_url=cert_url), rsa_key)
    with pytest.raises(InvalidCertificateURL) as exc:
        verifier.verify(msg)
    assert exc.value.reason == "bad_cert_url"
    assert "SigningCertURL" in str(exc.value)
    assert fetcher.calls == []


def test_explicit_port_443_is_accepted(verifier, fetcher, rsa_key):
    url = "https://sns.us-east-1.amazonaws.com:443/SimpleNotificationService-x.pem"
    verifier.verify(sign(notification(cert_url=url), rsa_key))
    assert fetcher.calls == [url]


# --------------------------------------------------------------------------
# Timestamps, versions, certificates, malformed bodies
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when,reason",
    [
        (NOW - timedelta(hours=2), "stale_timestamp"),
        (NOW + timedelta(hours=1), "future_timestamp"),
    ],
)
def test_out_of_window_timestamp_is_rejected(verifier, fetcher, rsa_key, when, reason):
    with pytest.raises(InvalidTimestamp) as exc:
        verifier.verify(sign(notification(when=when), rsa_key))
    assert exc.value.reason == reason
    assert fetcher.calls == []


def test_timestamp_within_window_is_accepted(verifier, rsa_key):
    verifier.verify(sign(notification(when=NOW - timedelta(minutes=59)), rsa_key))
    verifier.verify(sign(notification(when=NOW + timedelta(minutes=4)), rsa_key))


@pytest.mark.parametrize("bad", ["yesterday", "2026-03-01T12:00:00"])
def test_unparseable_or_naive_timestamp_is_rejected(verifier, rsa_key, bad):
    msg = notification()
    msg["Timestamp"] = bad
    with pytest.raises(InvalidTimestamp) as exc:
        verifier.verify(sign(msg, rsa_key))
    assert exc.value.reason == "bad_timestamp"


@pytest.mark.parametrize("version", ["3", "0", "", "SHA1"])
def test_unsupported_signature_version_is_rejected(verifier, fetcher, rsa_key, version):
    msg = sign(notification(), rsa_key, "2")
    msg["SignatureVersion"] = version
    with pytest.raises(InvalidSNSMessage) as exc:
        verifier.verify(msg)
    assert fetcher.calls == []
    if version:
        assert isinstance(exc.value, UnsupportedSignatureVersion)
        assert exc.value.reason == "unsupported_signature_version"


@pytest.mark.parametrize(
    "not_before,not_after,words",
    [
        (NOW - timedelta(days=60), NOW - timedelta(seconds=1), "expired"),
        (NOW + timedelta(seconds=1), NOW + timedelta(days=60), "not valid yet"),
    ],
)
def test_certificate_outside_validity_is_rejected(rsa_key, not_before, not_after, words):
    pem = make_cert_pem(rsa_key, not_before=not_before, not_after=not_after)
    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, fetch_certificate=FakeFetcher(pem), clock=lambda: NOW)
    with pytest.raises(CertificateError) as exc:
        v.verify(sign(notification(), rsa_key))
    assert exc.value.reason == "certificate_invalid"
    assert words in str(exc.value)


def test_cached_certificate_is_rechecked_against_the_clock(rsa_key, cert_pem):
    now = [NOW]
    fetcher = FakeFetcher(cert_pem)
    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, fetch_certificate=fetcher, clock=lambda: now[0])
    v.verify(sign(notification(), rsa_key))
    now[0] = NOW + timedelta(days=31)
    with pytest.raises(CertificateError, match="expired"):
        v.verify(sign(notification(when=now[0]), rsa_key))
    assert fetcher.calls == [CERT_URL]


def test_non_rsa_certificate_is_rejected(rsa_key):
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = make_cert_pem(ec_key, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=1))
    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, fetch_certificate=FakeFetcher(pem), clock=lambda: NOW)
    with pytest.raises(CertificateError, match="RSA"):
        v.verify(sign(notification(), rsa_key))


def test_unfetchable_or_garbage_certificate_is_rejected(rsa_key):
    def boom(url):
        raise OSError("connection refused")

    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, fetch_certificate=boom, clock=lambda: NOW)
    with pytest.raises(CertificateError) as exc:
        v.verify(sign(notification(), rsa_key))
    assert exc.value.reason == "certificate_unavailable"

    v = SNSMessageVerifier(expected_topic_arns={TOPIC}, fetch_certificate=FakeFetcher(b"<html>"), clock=lambda: NOW)
    with pytest.raises(CertificateError) as exc:
        v.verify(sign(notification(), rsa_key))
    assert exc.value.reason == "certificate_invalid"


@pytest.mark.parametrize("body", ["{not json", b"\xff\xfe", "[]", '"a string"', "null"])
def test_bad_json_is_rejected(verifier, body):
    with pytest.raises(MalformedMessage) as exc:
        verifier.verify(body)
    assert exc.value.reason == "bad_json"


@pytest.mark.parametrize("field", ["Type", "MessageId", "TopicArn", "Message", "Timestamp",
                                   "SignatureVersion", "Signature", "SigningCertURL"])
def test_missing_notification_fields_are_rejected(verifier, fetcher, rsa_key, field):
    msg = sign(notification(), rsa_key)
    del msg[field]
    with pytest.raises(MalformedMessage) as exc:
        verifier.verify(msg)
    assert exc.value.reason == "missing_field"
    assert field in str(exc.value)
    assert fetcher.calls == []


@pytest.mark.parametrize("field", ["SubscribeURL", "Token"])
def test_missing_confirmation_fields_are_rejected(verifier, rsa_key, field):
    msg = sign(confirmation(), rsa_key)
    del msg[field]
    with pytest.raises(MalformedMessage, match=field):
        verifier.verify(msg)


def test_non_string_field_is_rejected(verifier, rsa_key):
    msg = sign(notification(), rsa_key)
    msg["Message"] = {"id": "evt_1"}
    with pytest.raises(MalformedMessage, match="Message"):
        verifier.verify(msg)


def test_unknown_type_is_rejected(verifier, rsa_key):
    msg = sign(notification(), rsa_key)
    msg["Type"] = "Surprise"
    with pytest.raises(MalformedMessage) as exc:
        verifier.verify(msg)
    assert exc.value.reason == "unsupported_type"


def test_constructor_requires_expected_topics():
    with pytest.raises(ValueError):
        SNSMessageVerifier(expected_topic_arns=set())
    with pytest.raises(TypeError):
        SNSMessageVerifier(expected_topic_arns=TOPIC)  # a str is not a set of ARNs
    with pytest.raises(ValueError):
        SNSMessageVerifier(expected_topic_arns={TOPIC}, region="us-east-1.evil.com")


# --------------------------------------------------------------------------
# Subscription confirmation and handle()
# --------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_confirm_subscription_visits_subscribe_url(verifier, rsa_key, version):
    own_session = FakeSession()
    arn = verifier.confirm_subscription(sign(confirmation(), rsa_key, version), session=own_session)
    assert arn == SUBSCRIPTION_ARN
    assert [url for url, _ in own_session.calls] == [SUBSCRIBE_URL]
    assert own_session.calls[0][1]["allow_redirects"] is False
    assert own_session.calls[0][1]["timeout"] > 0


def test_confirm_subscription_returns_none_for_unparseable_answer(verifier, rsa_key):
    assert verifier.confirm_subscription(sign(confirmation(), rsa_key),
                                         session=FakeSession(FakeResponse("ok"))) is None


def test_confirm_subscription_reports_http_failure(verifier, rsa_key):
    with pytest.raises(SubscriptionConfirmationError) as exc:
        verifier.confirm_subscription(sign(confirmation(), rsa_key),
                                      session=FakeSession(FakeResponse("denied", status_code=403)))
    assert exc.value.reason == "confirmation_failed"


@pytest.mark.parametrize(
    "subscribe_url",
    [
        "https://evil.com/?Action=ConfirmSubscription",
        "http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com.evil.com/?Action=ConfirmSubscription",
        "https://sns.us-east-1.amazonaws.com@169.254.169.254/latest/meta-data/",
        "https://sns.us-east-1.amazonaws.com:8080/?Action=ConfirmSubscription",
    ],
)
def test_confirm_subscription_refuses_non_aws_subscribe_url(verifier, rsa_key, subscribe_url):
    own_session = FakeSession()
    msg = sign(confirmation(subscribe_url=subscribe_url), rsa_key)
    with pytest.raises(SubscriptionConfirmationError) as exc:
        verifier.confirm_subscription(msg, session=own_session)
    assert exc.value.reason == "bad_subscribe_url"
    assert "SubscribeURL" in str(exc.value)
    assert own_session.calls == []


def test_confirm_subscription_refuses_notifications(verifier, rsa_key, session):
    with pytest.raises(SubscriptionConfirmationError) as exc:
        verifier.confirm_subscription(sign(notification(), rsa_key), session=session)
    assert exc.value.reason == "not_subscription_confirmation"
    assert session.calls == []


def test_confirm_subscription_verifies_first(verifier, rsa_key, session):
    msg = sign(confirmation(), rsa_key)
    msg["SubscribeURL"] = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x"
    with pytest.raises(InvalidSignature):
        verifier.confirm_subscription(msg, session=session)
    assert session.calls == []


def test_handle_returns_notification_envelope(verifier, rsa_key, session):
    envelope = {"id": "evt_9", "type": "order.paid", "tenant": "acme", "data": {"order": 9}}
    body = json.dumps(sign(notification(envelope=envelope), rsa_key, "2")).encode()
    assert verifier.handle(body) == envelope
    assert session.calls == []


def test_handle_confirms_subscription_and_returns_none(verifier, rsa_key, session):
    assert verifier.handle(json.dumps(sign(confirmation(), rsa_key))) is None
    assert [url for url, _ in session.calls] == [SUBSCRIBE_URL]


def test_handle_does_not_act_on_unsubscribe_confirmation(verifier, rsa_key, session):
    assert verifier.handle(json.dumps(sign(confirmation(msg_type="UnsubscribeConfirmation"), rsa_key))) is None
    assert session.calls == []


def test_handle_rejects_forged_body(verifier, rsa_key, session):
    msg = sign(notification(), rsa_key)
    msg["Message"] = json.dumps({"id": "evt_x", "type": "order.refunded"})
    with pytest.raises(InvalidSNSMessage):
        verifier.handle(json.dumps(msg))


def test_handle_rejects_non_json_message_payload(verifier, rsa_key):
    msg = notification()
    msg["Message"] = "plain text"
    with pytest.raises(MalformedMessage) as exc:
        verifier.handle(json.dumps(sign(msg, rsa_key)))
    assert exc.value.reason == "bad_envelope"
