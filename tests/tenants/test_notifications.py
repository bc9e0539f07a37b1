"""Email notices, sent by the real worker's ``mail.send`` job through django-ses to the moto
server's SES, and read back from it (tests/mailbox.py).

Modelled SES rule: SES refuses a sender that is not a verified identity; moto does too, and the
local stack verifies ``DEFAULT_FROM_EMAIL`` when it starts (in AWS the domain is verified by DNS).
"""
from __future__ import annotations

import re

import pytest
from django.conf import settings

from saas.tenancy import tenant_context
from tenants import notifications, offboarding
from tests.mailbox import mail_worker, sent_to, wait_for_email

SECRETS = re.compile(r"whsec_|eyJ[A-Za-z0-9_-]{10,}|password|token", re.IGNORECASE)


@pytest.fixture(scope="module")
def worker(redis_broker):
    running = mail_worker(redis_broker.url())
    yield running
    running.stop()
    running.discard_log()


def assert_plain(message, *, tenant_name: str, other_urls: tuple[str, ...] = ()) -> None:
    """Plain text only, from the verified sender, naming the tenant, no secret but the link (links
    into the web app, plus ``other_urls`` the message is about)."""
    assert message.content_types == ["text/plain"]
    assert message.sender == settings.DEFAULT_FROM_EMAIL
    assert tenant_name in message.subject and tenant_name in message.text
    assert not SECRETS.search(message.text), message.text
    assert all(url.startswith(settings.SITE_URL + "/") or url in other_urls
               for url in re.findall(r"https?://\S+", message.text))


def test_an_invitation_email_links_to_the_invitation_behind_sign_in(worker, make_tenant, make_user):
    shop = make_tenant(name="Lantern Tea Co")
    person = make_user()
    invited = shop.admin.client().post("/api/v1/tenants/current/members", {"email": person.email, "role": "admin"},
                                       format="json")
    assert invited.status_code == 202, invited.content
    [message] = wait_for_email(person.email)
    assert_plain(message, tenant_name="Lantern Tea Co")
    assert message.subject == "You are invited to Lantern Tea Co"
    assert "as an admin" in message.text
    inbox_id = person.client().get("/api/v1/me/invitations").json()["results"][0]["id"]
    assert f"{settings.SITE_URL}/invitations/{inbox_id}/" in message.text


def test_a_removed_member_is_told(worker, make_tenant, make_user):
    shop = make_tenant(name="Harbour Roasters")
    member = shop.add(make_user, "member")
    assert shop.admin.client().delete(f"/api/v1/tenants/current/members/{member.sub}").status_code == 204
    [message] = wait_for_email(member.email)
    assert_plain(message, tenant_name="Harbour Roasters")
    assert message.subject == "You were removed from Harbour Roasters"


def test_the_owner_is_told_when_deletion_is_scheduled_and_when_the_final_export_is_ready(
        worker, make_tenant, settings):
    settings.OFFBOARDING_GRACE_SECONDS = 3600
    shop = make_tenant(name="Closing Down Ltd")
    offboarding.schedule_offboarding(tenant_id=shop.id, actor_id=shop.admin.sub)
    [scheduled] = wait_for_email(shop.admin.email)
    assert_plain(scheduled, tenant_name="Closing Down Ltd")
    assert scheduled.subject == "Closing Down Ltd is scheduled for deletion"
    assert f"/#leaving-{shop.id}" in scheduled.text
    offboarding.run_offboarding(tenant_id=shop.id)  # the job's first step: the final export, then it waits
    messages = wait_for_email(shop.admin.email, count=2)
    ready = next(m for m in messages if m.subject.startswith("The final export"))
    assert_plain(ready, tenant_name="Closing Down Ltd")
    assert ready.subject == "The final export of Closing Down Ltd is ready"


def test_admins_are_told_when_a_webhook_endpoint_is_disabled(worker, make_tenant, make_user):
    shop = make_tenant(name="Hook Line Co")
    other_admin = shop.add(make_user, "admin")
    member = shop.add(make_user, "member")
    with tenant_context(shop.id, roles={"admin"}):
        assert notifications.notify_endpoint_disabled(tenant_id=shop.id, endpoint_url="https://hooks.example.test/in",
                                                      reason="every delivery failed for 24 hours")
    for admin in (shop.admin, other_admin):
        [message] = wait_for_email(admin.email)
        assert_plain(message, tenant_name="Hook Line Co", other_urls=("https://hooks.example.test/in",))
        assert "Endpoint: https://hooks.example.test/in" in message.text
    assert sent_to(member.email) == []  # admins only


def test_the_job_body_sends_from_the_verified_sender_only(make_tenant, settings):
    """Run in this process (so the recorded-operations IAM check sees ses:SendRawEmail). SES refuses
    an unverified sender (MessageRejected); the local stack's moto does too, which is why it verifies
    ``DEFAULT_FROM_EMAIL`` at start."""
    from botocore.exceptions import ClientError

    from saas import mail

    shop = make_tenant(name="Direct Send Co")
    mail.send_now(tenant_id=shop.id, to=[shop.admin.email], subject="Direct Send Co: hello", body="Direct Send Co.")
    [message] = sent_to(shop.admin.email)
    assert message.subject == "Direct Send Co: hello" and message.content_types == ["text/plain"]
    settings.DEFAULT_FROM_EMAIL = "someone-else@unverified.example"
    with pytest.raises(ClientError, match="MessageRejected"):
        mail.send_now(tenant_id=shop.id, to=[shop.admin.email], subject="Direct Send Co", body="x")
