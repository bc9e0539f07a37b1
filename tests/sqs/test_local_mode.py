"""The command `python -m devstack up --broker sqs` runs for jobs: `python -m devstack.sqs_poller`,
a separate process polling the moto server's SQS and invoking the worker stage's Zappa handler.
An order placed through the API is fulfilled with no Celery worker process."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings

from devstack.services import REPO_ROOT, popen_child, stop_process
from tests.orders.factories import make_product, place
from tests.sqs.harness import wait_until
from tests.sqs.test_pipeline import status_of


def test_the_local_sqs_mode_poller_runs_the_order_pipeline(jobs, tenant_a, member):
    log = Path(tempfile.mkstemp(prefix="lambda-worker-", suffix=".log", dir=Path(REPO_ROOT, ".stack", "logs"))[1])
    env = {**os.environ, "DYNAMODB_TABLE": settings.DYNAMODB_TABLE,
           "WEBHOOKS_TOPIC_PREFIX": settings.WEBHOOKS_TOPIC_PREFIX, "SQS_QUEUE_PREFIX": jobs.prefix}
    poller = popen_child([sys.executable, "-m", "devstack.sqs_poller", "--queue-url", jobs.url,
                          "--schedule-seconds", "0", "--log", str(log)],
                         cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        product = make_product(tenant_a.id)
        order = place(member, [(product["id"], 1)]).json()
        wait_until(lambda: status_of(tenant_a.id, order["id"]) == "fulfilled", timeout=90, what="fulfilled")
        assert f"fulfilment started: order {order['id']}" in log.read_text()
    finally:
        assert stop_process(poller, 30) == 0  # SIGTERM: it stops its handler process and exits cleanly
        log.unlink(missing_ok=True)
