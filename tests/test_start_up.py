"""What a newcomer sees when the local stack has started: the banner names every demo user's sign-in
id (the Cognito ``sub``), password and what each sees; and no warning about SQL migrations that the
project, storing nothing in SQL, never applies."""
from __future__ import annotations

import json

import pytest

from devstack.__main__ import DEMO_USERS_FILE, DemoUser, banner

pytestmark = pytest.mark.pure

ENV = {"STACK_OIDC_PORT": "8002", "DYNAMODB_ENDPOINT_URL": "http://127.0.0.1:8001", "REDIS_URL": "redis://127.0.0.1:6380/0",
       "MOTO_ENDPOINT_URL": "http://127.0.0.1:5001", "COGNITO_USER_POOL_ID": "us-east-1_pool",
       "COGNITO_APP_CLIENT_IDS": "client"}


def _demo_users() -> list[DemoUser]:
    people = json.loads(DEMO_USERS_FILE.read_text())["users"]
    return [DemoUser(email=p["email"], sub=f"sub-of-{p['email'].split('@')[0]}", password=p["password"], sees=p["sees"])
            for p in people]


def test_the_banner_gives_each_demo_user_sign_in_id_password_and_what_they_see():
    users = _demo_users()
    text = banner(ENV, 8000, users=users)
    assert "http://127.0.0.1:8000/login/" in text and "http://127.0.0.1:8002" in text
    lines = text.splitlines()
    for user in users:
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(user.email))
        assert lines[at].split() == [user.email, "sign-in", "id", user.sub]
        assert lines[at + 1].split() == ["password", user.password]
        assert lines[at + 2].split(None, 1) == ["sees", user.sees]
    carol = next(u for u in users if u.email == "carol@demo.test")
    assert "viewer" in carol.sees and "My orders is empty" in carol.sees


def test_the_banner_says_when_a_sign_in_id_could_not_be_read():
    text = banner(ENV, 8000, users=[DemoUser(email="alice@demo.test", sub="", password="pw", sees="admin")])
    assert "alice@demo.test" in text and "(not found in the local Cognito pool)" in text


def test_runserver_has_no_unapplied_migrations_to_warn_about(django_db_blocker):
    """runserver's warning comes from the migration plan of the installed apps' migrations: it is empty
    because the contrib apps are declared unmigrated (MIGRATION_MODULES); no system check is
    silenced for it."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    with django_db_blocker.unblock():
        executor = MigrationExecutor(connection)
        assert executor.migration_plan(executor.loader.graph.leaf_nodes()) == []
    assert not executor.loader.migrated_apps
