"""Suite-wide fixtures. The servers (DynamoDB Local, Redis, moto, the OIDC provider) are started by
``python -m devstack test`` (scripts/test.sh), which passes their endpoints in the environment.
Tests marked ``pure`` run without them (``bash scripts/test.sh -m "not integration"``).
Fixtures and hooks only: the helpers tests import live in tests/factories.py."""
from __future__ import annotations

import os
import secrets
import uuid

import pytest

from tests import aws_operations, lambda_report
from tests.factories import TenantFixture, User, unique

_IAM_VIOLATIONS = pytest.StashKey[list]()

REQUIRED_ENV = ("DYNAMODB_ENDPOINT_URL", "MOTO_ENDPOINT_URL", "CELERY_BROKER_URL", "COGNITO_USER_POOL_ID")

# Fixtures shared by every test package (the Celery worker harness: broker_redis, redis_broker,
# running_worker, worker).
pytest_plugins = ["tests.jobs.harness"]


def pytest_sessionfinish(session, exitstatus):
    """Write the AWS operations this run performed; fail the run if a stage's IAM policy does not
    allow one that application code issued (see tests/aws_operations.py, deploy/stack.yaml)."""
    if not aws_operations.recorder.operations:
        return
    aws_operations.recorder.write()
    violations = aws_operations.policy_violations()
    if violations:
        session.config.stash[_IAM_VIOLATIONS] = violations
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    violations = config.stash.get(_IAM_VIOLATIONS, [])
    if violations:
        terminalreporter.section("AWS operations not allowed by the function roles (deploy/stack.yaml)", red=True)
        for line in violations:
            terminalreporter.line(line)
        terminalreporter.line(f"(all operations: {aws_operations.OUTPUT.relative_to(aws_operations.ROOT)})")
    for line in config.stash.get(lambda_report.SUMMARY, []):
        terminalreporter.line(line)


def pytest_collection_modifyitems(config, items):
    """Two layers: tests marked ``pure`` need no server; every other test is ``integration`` (it
    talks to the local servers). ``bash scripts/test.sh -m "not integration"`` runs the pure ones."""
    for item in items:
        if item.get_closest_marker("pure") is None:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def _servers():
    missing = [name for name in REQUIRED_ENV if not os.environ.get(name)]
    if missing:
        pytest.exit(f"missing {missing}: run integration tests with `bash scripts/test.sh` (it starts the servers)",
                    returncode=4)
    # Every client we create comes from this botocore session, so the hook sees all DynamoDB calls.
    from saas import aws
    from saas.tenancy import tables

    aws.botocore_session().register("before-call.dynamodb.Scan", aws_operations.forbid_scan)
    aws_operations.install(aws.botocore_session())
    aws.reset_clients()
    tables.ensure_all()
    import audit
    from saas import buckets
    with aws_operations.scaffolding("the local stack's bucket, lifecycle rule and chain key (infrastructure in AWS)"):
        buckets.ensure_bucket()
        audit.ensure_chain_key()
    from saas import queues

    with aws_operations.scaffolding("the webhook delivery queue (the stack template declares it in AWS)"):
        queues.ensure_queues()
    yield


@pytest.fixture(autouse=True)
def _integration(request):
    """Integration tests get the servers (tables ensured, Scan forbidden) and fresh caches."""
    if request.node.get_closest_marker("integration") is None:
        yield
        return
    request.getfixturevalue("_servers")
    from saas import health
    from saas.tenancy.store import router
    from tenants import active_tenant

    active_tenant.cache.clear()
    router.forget()
    health.forget()
    yield


@pytest.fixture(autouse=True)
def _own_audit_digests(settings):
    """Tests share one table and bucket, and some rewrite the platform trail on purpose: each test
    writes and reads audit digests under its own prefix (a digest chain is one deployment's)."""
    settings.AUDIT_DIGEST_PREFIX = f"audit-digests/test-{uuid.uuid4().hex[:12]}/"


@pytest.fixture(autouse=True)
def _roomy_throttle(settings):
    """Suites fire requests far faster than any real client; tests of throttling set their own rates."""
    settings.TENANT_THROTTLE_RATES = {tier: "100000/s" for tier in settings.TENANT_THROTTLE_RATES}
    settings.CALLER_THROTTLE_RATES = {kind: "100000/s" for kind in settings.CALLER_THROTTLE_RATES}
    from saas.throttling import breaker

    breaker.reset()


@pytest.fixture
def own_table(settings):
    """A pooled table of this test's own, for a test about every tenant of the table (a sweep, the
    platform's tenant list): the suite's shared table holds hundreds by the time it runs."""
    from saas.tenancy import tables
    from saas.tenancy.store import router
    from tests.aws_operations import scaffolding

    name = f"saas-own-{uuid.uuid4().hex[:8]}"
    with scaffolding("a pooled table of this test's own"):  # not something the deployed app does
        tables.ensure_table(name)
    settings.DYNAMODB_TABLE = name
    router.forget()
    yield name
    router.forget()
    with scaffolding("a pooled table of this test's own"):
        tables.delete_table(name)


@pytest.fixture
def delivery_clock(monkeypatch):
    """The webhook delivery clock, from now, moved by the test (``delivery_clock.now += 3600``)."""
    import time

    from tests.factories import Clock
    from webhooks import clock

    moved = Clock(time.time())
    monkeypatch.setattr(clock, "now", moved)
    return moved


@pytest.fixture(scope="session")
def cognito():
    from saas import aws

    return aws.client("cognito-idp")


@pytest.fixture
def make_user(cognito, settings):
    """Create a real user in the (local) Cognito pool and sign in with USER_PASSWORD_AUTH. Her email is
    verified (as for people an operator creates, or who confirmed the code at sign-up)."""

    def _make(*, email: str | None = None, groups: tuple[str, ...] = (), tenant_id: str | None = None) -> User:
        email = email or f"{unique('user-')}@example.test"
        password = "Pw-" + secrets.token_urlsafe(12) + "1a!"
        attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
        if tenant_id:
            attributes.append({"Name": "custom:tenant_id", "Value": tenant_id})
        created = cognito.admin_create_user(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=email,
                                            UserAttributes=attributes, MessageAction="SUPPRESS")
        sub = next(a["Value"] for a in created["User"]["Attributes"] if a["Name"] == "sub")
        cognito.admin_set_user_password(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=email,
                                        Password=password, Permanent=True)
        for group in groups:
            cognito.admin_add_user_to_group(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=email, GroupName=group)
        auth = cognito.initiate_auth(ClientId=settings.COGNITO_APP_CLIENT_IDS[0], AuthFlow="USER_PASSWORD_AUTH",
                                     AuthParameters={"USERNAME": email, "PASSWORD": password})["AuthenticationResult"]
        return User(sub=sub, email=email, password=password, id_token=auth["IdToken"],
                    access_token=auth["AccessToken"])

    return _make


@pytest.fixture
def make_tenant(make_user):
    from tenants.services import create_pooled_tenant

    def _make(*, tier: str = "basic", name: str | None = None) -> TenantFixture:
        admin = make_user()
        tenant = create_pooled_tenant(name=name or unique("Tenant "), tier=tier, owner_id=admin.sub,
                                      owner_email=admin.email)
        return TenantFixture(id=tenant["id"], admin=admin)

    return _make


@pytest.fixture
def tenant_a(make_tenant):
    return make_tenant(name="Tenant A")


@pytest.fixture
def tenant_b(make_tenant):
    return make_tenant(name="Tenant B")


@pytest.fixture
def manager(tenant_a, make_user):
    return tenant_a.add(make_user, "manager")


@pytest.fixture
def member(tenant_a, make_user):
    return tenant_a.add(make_user, "member")


@pytest.fixture
def viewer(tenant_a, make_user):
    return tenant_a.add(make_user, "viewer")


@pytest.fixture
def platform_admin(make_user):
    """A member of the system_admin Cognito group (no tenant)."""
    return make_user(groups=("system_admin",))


# --- the browser sign-in provider (a real process on 127.0.0.1) ----------------------------------------
@pytest.fixture(scope="session")
def oidc_provider():
    """oidc-provider-mock (PyPI) run by devstack's OIDCProvider on a free loopback port; stopped by PID.
    Pool users' email, email_verified, username and groups come from the (moto) user pool, as from
    Cognito's hosted UI."""
    from devstack import OIDCProvider

    provider = OIDCProvider(client_id="saas-test-web", client_secret="saas-test-secret", startup_timeout=30,
                            cognito_endpoint=os.environ.get("MOTO_ENDPOINT_URL"))
    provider.start()
    try:
        yield provider
    finally:
        provider.stop()


@pytest.fixture
def browser_settings(settings, oidc_provider):
    """Point mozilla-django-oidc (and seed_demo) at the test's provider process."""
    for name, value in oidc_provider.env().items():
        setattr(settings, name, value)
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_LOCAL_PROVIDER_URL = oidc_provider.endpoint
    return settings
