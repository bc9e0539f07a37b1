"""The local stack survives its own processes failing: DynamoDB Local can keep its data on disk
(``--persist``), so a restart loses nothing, and the stack's supervisor restarts a crashed worker
instead of tearing everything down."""
from __future__ import annotations

import os
import signal
import sys
from types import SimpleNamespace

import redis as redis_py

from devstack.__main__ import Supervisor
from devstack.services import DynamoDBLocal, Redis
from tests.jobs.harness import wait_until


def test_dynamodb_local_keeps_its_data_across_a_crash(tmp_path):
    server = DynamoDBLocal(db_path=tmp_path / "data").start()
    try:
        client = server.client()
        client.create_table(TableName="survivor", BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}])
        client.put_item(TableName="survivor", Item={"PK": {"S": "order-1"}, "n": {"N": "7"}})
        os.kill(server.pid, signal.SIGKILL)  # a crash, not a clean shutdown
        wait_until(lambda: not server.running, timeout=10, what="dynamodb dead")
        server.start()
        item = server.client().get_item(TableName="survivor", Key={"PK": {"S": "order-1"}}, ConsistentRead=True)
        assert item["Item"]["n"] == {"N": "7"}
    finally:
        server.stop()


def test_the_supervisor_restarts_a_crashed_worker_and_stops_for_the_web_server(tmp_path):
    supervisor = Supervisor(clock=lambda: now[0])
    now = [0.0]
    sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
    try:
        worker = supervisor.spawn("celery worker", sleeper, restart=True)
        supervisor.spawn("web", sleeper)
        assert supervisor.poll_once() is None
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        assert supervisor.poll_once() is None  # noticed: restart scheduled after a short back-off
        now[0] += 1.0
        assert supervisor.poll_once() is None
        restarted = supervisor.process("celery worker")
        assert restarted.pid != worker.pid and restarted.poll() is None
        assert supervisor.restarts == {"celery worker": 1}

        web = supervisor.process("web")
        os.kill(web.pid, signal.SIGKILL)
        web.wait(10)
        assert supervisor.poll_once() not in (None, 0)  # the web server is not restarted: stop
    finally:
        for _, process in supervisor.children:
            if process.poll() is None:
                process.kill()
                process.wait(10)


def test_the_stacks_redis_is_restarted_after_a_crash_with_its_queued_jobs_and_cache(tmp_path):
    """``devstack up`` runs Redis with an append-only file and lists it among the servers the
    supervisor restarts: a SIGKILLed Redis comes back on the same port with every write it had
    acknowledged. Models Redis's documented AOF rule rather than a quiet disk's luck: with
    ``appendfsync everysec`` a slow background fsync makes Redis postpone writing the file (up to
    2 s) while it goes on answering, and a crash then loses acknowledged writes; the stack's Redis
    fsyncs each write before answering it, so a busy disk cannot lose the cache entry below."""
    server = Redis(data_dir=tmp_path / "redis").start()
    supervisor = Supervisor(SimpleNamespace(services=[server]), restart_servers=("redis",))
    try:
        client = redis_py.Redis.from_url(server.url())
        client.lpush("celery", "a queued job")
        client.set(":1:cached", "a cached value")
        assert client.config_get("appendfsync") == {"appendfsync": "always"}  # the rule above, on any disk
        port, pid = server.port, server.pid
        os.kill(pid, signal.SIGKILL)  # a crash, not a clean shutdown
        wait_until(lambda: not server.running, timeout=10, what="redis dead")
        assert supervisor.poll_once() is None  # restarted, the stack goes on
        assert server.running and server.pid != pid and server.port == port
        client = redis_py.Redis.from_url(server.url())
        assert client.lrange("celery", 0, -1) == [b"a queued job"]
        assert client.get(":1:cached") == b"a cached value"
    finally:
        server.stop()
