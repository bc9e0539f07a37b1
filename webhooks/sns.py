"""The SNS calls webhooks make, and how their failures surface.

Unreachable or failing SNS (transport errors, 5xx, throttling) becomes ``SNSUnavailable`` (a 503
with Retry-After in the API; an exception the outbox relay retries). A missing topic or
subscription is ``NotFound``; callers decide whether that matters.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import json
import re
from typing import Iterator

from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError
from django.conf import settings

from saas import aws
from saas.errors import ServiceUnavailable

# SNS topic names: 1-256 characters of letters, digits, hyphens and underscores.
TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Every publish carries these; subscriptions filter on them.
ATTR_TENANT, ATTR_EVENT_TYPE, ATTR_AUDIENCE = "tenant_id", "event_type", "audience"
AUDIENCE_ALL = "all"


class SNSUnavailable(ServiceUnavailable):
    def __init__(self, detail: str | None = None):
        super().__init__("sns", detail)


class NotFound(Exception):
    """The topic or subscription does not exist (any more)."""


_UNAVAILABLE_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "InternalError",
                      "InternalFailure", "ServiceUnavailable", "KMSThrottling"}


@contextlib.contextmanager
def _sns_errors(operation: str) -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        code = exc.response["Error"]["Code"]
        if code in ("NotFound", "NotFoundException", "ResourceNotFound"):
            raise NotFound(f"{operation}: {exc.response['Error'].get('Message', code)}") from exc
        if code in _UNAVAILABLE_CODES or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) >= 500:
            raise SNSUnavailable(f"SNS {operation} failed ({code}); try again shortly.") from exc
        raise
    except (BotoCoreError, ResponseParserError) as exc:  # connection refused, timeouts, HTML 5xx pages
        raise SNSUnavailable(f"SNS {operation} failed ({type(exc).__name__}); try again shortly.") from exc


def topic_name(tenant_id: str, event_type: str) -> str:
    """Deterministic per (tenant, event type). Tenant ids are [a-z0-9-] and event types contain no
    hyphen once dots become underscores, so the last hyphen splits the name unambiguously."""
    name = f"{settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-{event_type.replace('.', '_')}"
    if not TOPIC_NAME.fullmatch(name):
        raise ValueError(f"not a valid SNS topic name: {name!r}")
    return name


def create_topic(name: str) -> str:
    """Idempotent by name: a racing second create returns the same ARN."""
    with _sns_errors("CreateTopic"):
        return aws.client("sns").create_topic(Name=name)["TopicArn"]


def delete_topic(topic_arn: str) -> None:
    """Deletes the topic and all its subscriptions; deleting a missing topic is not an error."""
    with contextlib.suppress(NotFound), _sns_errors("DeleteTopic"):
        aws.client("sns").delete_topic(TopicArn=topic_arn)


def filter_policy(*, tenant_id: str, event_type: str, audience: str) -> dict:
    """Defence in depth: a subscription accepts only its tenant's messages of its type (or the test
    type), sent to everyone or to this subscription alone (see ``send_test_event``)."""
    from saas.events import WEBHOOK_TEST

    return {ATTR_TENANT: [tenant_id], ATTR_EVENT_TYPE: [event_type, WEBHOOK_TEST],
            ATTR_AUDIENCE: [AUDIENCE_ALL, audience]}


def subscribe(*, topic_arn: str, url: str, policy: dict) -> str:
    protocol = url.split(":", 1)[0].lower()  # "https" (or "http" on local stacks), already validated
    with _sns_errors("Subscribe"):
        return aws.client("sns").subscribe(
            TopicArn=topic_arn, Protocol=protocol, Endpoint=url, ReturnSubscriptionArn=True,
            Attributes={"FilterPolicyScope": "MessageAttributes", "FilterPolicy": json.dumps(policy)},
        )["SubscriptionArn"]


def unsubscribe(subscription_arn: str) -> None:
    with contextlib.suppress(NotFound), _sns_errors("Unsubscribe"):
        aws.client("sns").unsubscribe(SubscriptionArn=subscription_arn)


def is_pending_confirmation(subscription_arn: str) -> bool:
    """True until the endpoint confirms (real SNS); raises NotFound once SNS dropped it
    (an unconfirmed subscription expires after three days)."""
    with _sns_errors("GetSubscriptionAttributes"):
        attributes = aws.client("sns").get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
    return str(attributes.get("PendingConfirmation", "false")).lower() == "true"


def publish(*, topic_arn: str, message: str, attributes: dict[str, str]) -> str:
    with _sns_errors("Publish"):
        return aws.client("sns").publish(
            TopicArn=topic_arn, Message=message,
            MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        )["MessageId"]


PUBLISH_BATCH_SIZE = 10  # SNS PublishBatch takes at most 10 messages
# PublishBatch calls of one relay batch run side by side (boto3 clients are thread-safe): the relay's
# throughput is SNS's round trip divided by this, not one call after another.
_publishers = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="sns-publish")


def publish_batch(*, topic_arn: str, messages: list[str], attributes: dict[str, str]) -> dict[int, Exception]:
    """Publish ``messages`` (same attributes) to one topic, 10 per PublishBatch call, a few calls at
    a time. Returns the entries SNS refused or did not confirm, by index, as exceptions (a whole
    call that failed fails each of its entries)."""
    message_attributes = {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()}
    chunks = [range(start, min(start + PUBLISH_BATCH_SIZE, len(messages)))
              for start in range(0, len(messages), PUBLISH_BATCH_SIZE)]
    client = aws.client("sns")

    def send(indexes: range) -> dict[int, Exception]:
        entries = [{"Id": str(index), "Message": messages[index], "MessageAttributes": message_attributes}
                   for index in indexes]
        try:
            with _sns_errors("PublishBatch"):
                response = client.publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=entries)
        except NotFound:
            raise  # the topic is gone: the caller looks it up again
        except Exception as exc:  # this call failed: each of its messages is retried later
            return {index: exc for index in indexes}
        failures: dict[int, Exception] = {}
        for failed in response.get("Failed", []):
            error = SNSUnavailable if not failed.get("SenderFault") else RuntimeError
            failures[int(failed["Id"])] = error(f"SNS refused the message: {failed.get('Code')} {failed.get('Message', '')}")
        # An entry reported neither way was not confirmed: at least once means publishing it again.
        answered = {int(entry["Id"]) for entry in response.get("Successful", [])} | set(failures)
        for index in indexes:
            if index not in answered:
                failures[index] = SNSUnavailable("SNS did not confirm the message; try again shortly.")
        return failures

    if len(chunks) == 1:
        return send(chunks[0])
    failures: dict[int, Exception] = {}
    for result in _publishers.map(send, chunks):
        failures.update(result)
    return failures


def tenant_topic_arns(tenant_id: str) -> list[str]:
    """Every topic named for the tenant (``topic_name``), found by listing the account's topics."""
    prefix = f"{settings.WEBHOOKS_TOPIC_PREFIX}-{tenant_id}-"
    arns = []
    with _sns_errors("ListTopics"):
        for page in aws.client("sns").get_paginator("list_topics").paginate():
            for topic in page["Topics"]:
                name = topic["TopicArn"].rsplit(":", 1)[1]
                if name.startswith(prefix) and "-" not in name[len(prefix):]:
                    arns.append(topic["TopicArn"])
    return arns


# --- the tenant's delivery topic (endpoints) -----------------------------------------------------
TENANT_TOPIC_SUFFIX = "events"  # no hyphen: tenant_topic_arns (offboarding) finds it with the others


def tenant_topic_name(tenant_id: str) -> str:
    """One topic per tenant for every event type (the endpoints' fan-out to the delivery queue)."""
    return topic_name(tenant_id, TENANT_TOPIC_SUFFIX)


def subscribe_queue(*, topic_arn: str, queue_arn: str) -> str:
    """Subscribe the delivery queue to a tenant topic with raw message delivery (the SQS body is the
    envelope JSON itself). Idempotent: SNS returns the existing subscription for the same endpoint."""
    with _sns_errors("Subscribe"):
        return aws.client("sns").subscribe(
            TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, ReturnSubscriptionArn=True,
            Attributes={"RawMessageDelivery": "true"},
        )["SubscriptionArn"]
