"""Every AWS operation the test run performs, recorded on the shared botocore session (saas.aws),
written to ``.build/aws-operations.json`` and checked, when the session ends, against the role of the
function that would perform it in AWS (``deploy/stack.yaml``: ``WebRole`` / ``WorkerRole``, read by
devstack/iam.py): an operation issued by application code that its function's role does not allow
fails the run.

Which function: decided from the whole call stack (``_role``). A Celery job being executed (Celery's
tracer, a task called as a function) or the worker stage's handler (saas/worker.py) runs in the worker
function; a Django request in the web function; a management command is run by the operator with
the deploy credentials (not checked against a function role). Application code that a test calls
directly, outside all of these, is ``direct``: the same service function may run in either function,
so it is only required to be allowed by one of the two roles.

Calls issued directly by test code (fixtures creating users, assertions reading SNS...) are
recorded as ``test`` and not checked: the deployed function never makes them. A test that drives
application code only to set up something outside the application (e.g. a table for another stage)
wraps it in ``scaffolding("why")``.
"""
from __future__ import annotations

import contextlib
import json
import sys
import threading
from contextvars import ContextVar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / ".build" / "aws-operations.json"
ROOT_PREFIX = str(ROOT) + "/"
_NOT_APPLICATION = ("tests", "bench", "devstack", ".venv")
# Demo data: seed_demo / demo_token refuse to run outside the local stack, so never need a policy.
LOCAL_ONLY_MODULES = {"tenants/demo.py", "tenants/management/commands/seed_demo.py",
                      "tenants/management/commands/demo_token.py"}
MOTO_ACCOUNT = "123456789012"

_scaffolding: ContextVar[str | None] = ContextVar("aws_scaffolding", default=None)


@contextlib.contextmanager
def scaffolding(reason: str):
    token = _scaffolding.set(reason)
    try:
        yield
    finally:
        _scaffolding.reset(token)


_WORKER_FRAMES = ("/celery/app/trace.py", "/saas/worker.py")
_COMMAND_FRAMES = ("/django/core/management/",)
_REQUEST_FRAMES = ("/django/core/handlers/",)
# What the stack / deploy command creates in AWS and local fixtures create with the same code: the
# pooled table and the job queues (silo tables, created by the worker, go through ensure_table alone).
_DEPLOY_TIME_FILES = ("/saas/tenancy/tables.py", "/saas/queues.py")
_DEPLOY_TIME_FUNCTIONS = {"ensure_all", "ensure_queues"}


def _role() -> str:
    """Which function's role would make this call, from the whole call stack: a Celery job being
    executed (Celery's tracer, or a task called as a function, or the worker stage's SQS/schedule
    handler) runs in the worker function; a Django request in the web function; a management
    command, or the creation of the pooled table / job queues (the stack's in AWS), is run by the
    operator (deploy credentials). Application code a test calls directly,
    outside all three, is ``direct``."""
    frame = sys._getframe(2)
    seen = set()
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.endswith(_WORKER_FRAMES) or (filename.endswith("/celery/app/task.py")
                                                 and frame.f_code.co_name == "__call__"):
            return "worker"
        if any(part in filename for part in _COMMAND_FRAMES) or \
                (filename.endswith(_DEPLOY_TIME_FILES) and frame.f_code.co_name in _DEPLOY_TIME_FUNCTIONS):
            seen.add("deploy")
        if any(part in filename for part in _REQUEST_FRAMES):
            seen.add("web")
        frame = frame.f_back
    return "web" if "web" in seen else "deploy" if "deploy" in seen else "direct"


def _caller() -> tuple[str, str]:
    """('app' | 'test' | 'local-only', 'path:line') of the first frame in this repository outside the
    libraries; 'local-only' when the call comes from code that refuses to run outside the local stack."""
    frame, found = sys._getframe(2), None
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(ROOT_PREFIX) and "/site-packages/" not in filename:
            rel = Path(filename).relative_to(ROOT)
            if rel.as_posix() in LOCAL_ONLY_MODULES:
                return "local-only", f"{rel}:{frame.f_lineno}"
            if found is None:
                found = ("test" if rel.parts[0] in _NOT_APPLICATION else "app"), f"{rel}:{frame.f_lineno}"
        frame = frame.f_back
    return found or ("test", "outside the repository")


class Recorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.operations: dict[tuple, dict] = {}

    def __call__(self, params, model, **kwargs) -> None:
        from django.conf import settings

        from devstack import iam

        service = model.service_model.signing_name
        origin, caller = _caller()
        if _scaffolding.get() is not None:
            origin = "test"
        try:
            requires = iam.required(service, model.name, params, region=settings.AWS_REGION, account=MOTO_ACCOUNT)
        except Exception as exc:  # an unexpected parameter shape must not break the call itself
            requires = [(f"{service}:{model.name}", f"unparsed: {exc!r}")]
        names = local_names()  # as set now: a test may point the app at other tables or prefixes
        role = _role() if origin == "app" else origin
        key = (service, model.name, tuple(requires), origin, role, tuple(sorted(names.items())))
        with self._lock:
            entry = self.operations.setdefault(key, {"service": service, "operation": model.name,
                                                     "requires": [list(p) for p in requires], "origin": origin,
                                                     "role": role, "caller": caller, "local_names": names, "count": 0})
            entry["count"] += 1

    def application_operations(self) -> list[dict]:
        return [op for op in self.operations.values() if op["origin"] == "app"]

    def write(self, path: Path = OUTPUT) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        ops = sorted(self.operations.values(), key=lambda o: (o["origin"], o["service"], o["operation"]))
        path.write_text(json.dumps(ops, indent=1) + "\n")


recorder = Recorder()


def install(session) -> None:
    """Register on the shared botocore session (before any client is created)."""
    session.register("before-parameter-build", recorder, unique_id="saas-aws-operation-recorder")


def local_names() -> dict[str, str]:
    from django.conf import settings

    from devstack import iam

    return {name: str(getattr(settings, name, "") or "") for name in iam.STAGE_NAMED_SETTINGS}


def policy_violations() -> list[str]:
    from devstack import iam

    return iam.denied(recorder.application_operations(), account=MOTO_ACCOUNT)


# --- no Scan --------------------------------------------------------------------------------------
class ScanAttempted(AssertionError):
    """Application code issued a DynamoDB Scan (it must only get/query inside a tenant partition)."""


def forbid_scan(**kwargs) -> None:
    """A ``before-call.dynamodb.Scan`` handler: every Scan fails the test that issued it."""
    raise ScanAttempted("DynamoDB Scan issued; application code must only get/query inside a tenant partition")
