"""What the application sent by email, read back from the moto server's SES.

moto keeps every message SES accepted (``SendRawEmail``: a ``RawMessage`` with its source,
destinations and the raw MIME text); the local stack's moto server lists them at
``devstack.moto_server.SENT_EMAIL_PATH``. Messages are found by recipient, so tests using fresh
addresses never see each other's mail.
"""
from __future__ import annotations

import email
import email.policy
import os
import time
from dataclasses import dataclass

import requests

from devstack.moto_server import SENT_EMAIL_PATH
from tests.jobs.harness import Worker


@dataclass(frozen=True)
class SentEmail:
    sender: str
    to: list[str]
    subject: str
    text: str
    content_types: list[str]  # every MIME part's type, in order


def _parse(raw: dict) -> SentEmail:
    message = email.message_from_string(raw["raw_data"], policy=email.policy.default)
    parts = [part.get_content_type() for part in message.walk() if not part.is_multipart()]
    body = message.get_body(preferencelist=("plain",))
    return SentEmail(sender=raw["source"], to=list(raw["destinations"]), subject=str(message["Subject"]),
                     text=body.get_content() if body is not None else "", content_types=parts)


def sent_to(address: str) -> list[SentEmail]:
    response = requests.get(f"{os.environ['MOTO_ENDPOINT_URL']}{SENT_EMAIL_PATH}", timeout=5)
    response.raise_for_status()
    raws = response.json()
    return [_parse(raw) for raw in raws if address in raw.get("destinations", [])]


def wait_for_email(address: str, *, count: int = 1, timeout: float = 30.0) -> list[SentEmail]:
    """The messages to ``address`` once ``count`` of them arrived (sent by the worker's ``mail.send``
    job, so not at once); fails after ``timeout`` seconds with what did arrive."""
    deadline = time.monotonic() + timeout
    while True:
        found = sent_to(address)
        if len(found) >= count or time.monotonic() > deadline:
            assert len(found) >= count, f"{count} email(s) to {address} expected within {timeout}s, got {found}"
            return found
        time.sleep(0.2)


def mail_worker(broker_url: str) -> Worker:
    return Worker(broker_url).start()
