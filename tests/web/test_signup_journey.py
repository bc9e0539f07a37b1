"""A newcomer creates her own account: "Create an account" on the app's sign-in page opens the
provider's sign-up (the Cognito hosted UI's ``/signup``; locally devstack's provider, which creates
the user in the moto user pool with Cognito's SignUp API), she confirms the code emailed to her (the
moto server's SES), is signed in, lands on Home with no tenant and creates her first one.

Models AWS's rules where moto is kinder: a user who has not confirmed the code cannot sign in
(``UserNotConfirmedException``), a wrong code confirms nothing (``CodeMismatchException``), and the
address is unverified until the code is confirmed.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.factories import unique
from tests.mailbox import wait_for_email

pytestmark = pytest.mark.slow


def _pool_user(cognito, settings, email: str) -> dict:
    user = cognito.admin_get_user(UserPoolId=settings.COGNITO_USER_POOL_ID, Username=email)
    return {"status": user["UserStatus"], **{a["Name"]: a["Value"] for a in user["UserAttributes"]}}


def test_a_newcomer_signs_up_confirms_the_emailed_code_signs_in_and_creates_a_first_tenant(
        journey, oidc_provider, cognito, settings):
    email = f"{unique('newcomer-')}@example.test"
    j = journey("sign-up")
    page = j.page
    j.go("/login/")
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_role("heading", name="Create an account")).to_be_visible()
    j.shot("provider sign-up form")

    # The pool's password policy applies (Cognito's InvalidPasswordException), nothing is created.
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.locator("#signup-error")).to_contain_text("does not meet the rules")
    assert not cognito.list_users(UserPoolId=settings.COGNITO_USER_POOL_ID, Filter=f'email = "{email}"')["Users"]

    page.get_by_label("Password").fill("Newcomer-Passw0rd!")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Confirm your account")).to_be_visible()
    j.shot("confirm the emailed code")
    created = _pool_user(cognito, settings, email)
    assert created["status"] == "UNCONFIRMED" and created.get("email_verified") != "true"

    # Unconfirmed: she cannot sign in yet (a second browser tries with her sub).
    other = journey("sign-up-unconfirmed")
    other.go("/login/")
    other.page.get_by_role("link", name="Sign in", exact=True).click()
    other.page.locator('input[name="sub"]').fill(created["sub"])
    other.page.locator('input[name="sub"]').press("Enter")
    expect(other.page.locator("#confirm-error")).to_contain_text("not confirmed")
    assert "/oidc/callback" not in other.page.url

    # A wrong code confirms nothing.
    mail = wait_for_email(email)
    assert len(mail) == 1
    code = re.search(r"confirmation code is (\d{6})", mail[0].text).group(1)
    page.get_by_label("Confirmation code").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Confirm account").click()
    expect(page.locator("#confirm-error")).to_contain_text("Invalid verification code")
    assert _pool_user(cognito, settings, email)["status"] == "UNCONFIRMED"

    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm account").click()
    expect(page.locator("#new-sub")).to_have_text(created["sub"])
    confirmed = _pool_user(cognito, settings, email)
    assert confirmed["status"] == "CONFIRMED" and confirmed["email_verified"] == "true"
    j.shot("account confirmed")

    # Signed in through the code flow, as the same Cognito sub: Home offers the first tenant.
    page.get_by_role("button", name=f"Continue as {email}").click()
    page.wait_for_url(re.compile(re.escape(j.live_url) + r"/(\?.*)?$"))
    expect(page.get_by_role("link", name="Create a tenant")).to_be_visible()
    j.shot("home with no tenant yet")
    page.get_by_role("link", name="Create a tenant").click()
    page.get_by_label("Organisation name").fill("Newcomer Goods")
    page.get_by_role("button", name="Create tenant").click()
    expect(page.locator("#active-tenant-name")).to_have_text("Newcomer Goods")
    expect(page.locator("#active-role")).to_have_text("admin")
    expect(page.locator("#first-steps li")).to_have_count(3)
    j.shot("first tenant with its checklist")
