"""The webhook delivery queue (``saas.queues.webhooks_queue_name``): URL and ARN, looked up once."""
from __future__ import annotations

from functools import lru_cache

from saas import aws, queues


@lru_cache(maxsize=8)
def _lookup(name: str) -> tuple[str, str]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def url() -> str:
    return _lookup(queues.webhooks_queue_name())[0]


def arn() -> str:
    return _lookup(queues.webhooks_queue_name())[1]


def receive(*, max_messages: int = 10, wait_seconds: int = 0) -> list[dict]:
    """One ReceiveMessage call: [{"id", "receipt", "body"}]."""
    response = aws.client("sqs").receive_message(QueueUrl=url(), MaxNumberOfMessages=max_messages,
                                                 WaitTimeSeconds=wait_seconds)
    return [{"id": m["MessageId"], "receipt": m["ReceiptHandle"], "body": m["Body"]}
            for m in response.get("Messages", [])]


def delete(receipts: list[str]) -> None:
    if receipts:
        aws.client("sqs").delete_message_batch(
            QueueUrl=url(), Entries=[{"Id": str(n), "ReceiptHandle": r} for n, r in enumerate(receipts)])
