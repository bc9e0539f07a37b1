"""Run the moto server (``moto_server``'s own ``main``) with one Cognito rule made as strict as AWS's,
and one read-only route for the tests: the raw emails SES accepted (``SENT_EMAIL_PATH``).

    python -m devstack.moto_server -H 127.0.0.1 -p 5000

Amazon Cognito marks an email address unverified when it changes: "When a user updates their email
address or phone number [...] Amazon Cognito marks the attribute as unverified" (Cognito developer
guide, *Verifying updates to email addresses and phone numbers*; ``UpdateUserAttributes`` and
``AdminUpdateUserAttributes`` API reference). A user changes her own email with her own access token
(``UpdateUserAttributes``) whenever the app client may write ``email``; the new address then carries
``email_verified = false`` until she confirms the code sent to it. An administrator
(``AdminUpdateUserAttributes``) may set ``email_verified = true`` in the same call; otherwise the
new address is unverified as well.

moto 5.2 keeps ``email_verified`` as it was, so on the emulator a self-service change looks verified.
That shortcut would hide exactly the attack this product must refuse (take someone else's address,
then act as them), so the local stack clears ``email_verified`` on an email change the way AWS does.
Nothing else in moto is changed. (Pools configured with ``UserAttributeUpdateSettings`` keep the
old address until the new one is verified; the deployed pool does that too, and the app does not rely
on it: it trusts an address only while ``email_verified`` is true.)
"""
from __future__ import annotations

import ipaddress
import sys


def _changed_email(user, attributes: list[dict[str, str]]) -> bool:
    new = next((a["Value"] for a in attributes if a["Name"] == "email"), None)
    return new is not None and new != user.attribute_lookup.get("email")


def _unverified(user) -> None:
    user.update_attributes([{"Name": "email_verified", "Value": "false"}])


def model_email_verification() -> None:
    """Patch moto's Cognito backend (in this process) so an email change clears ``email_verified``."""
    from moto.cognitoidp.models import CognitoIdpBackend

    if getattr(CognitoIdpBackend, "_devstack_email_rule", False):
        return
    self_service, admin = CognitoIdpBackend.update_user_attributes, CognitoIdpBackend.admin_update_user_attributes

    def update_user_attributes(self, access_token: str, attributes: list[dict[str, str]]) -> None:
        user = next((self.admin_get_user(pool.id, pool.access_tokens[access_token][1])
                     for pool in self.user_pools.values() if access_token in pool.access_tokens), None)
        changed = user is not None and _changed_email(user, attributes)
        self_service(self, access_token, attributes)
        if changed:  # a user cannot verify her own new address by saying so
            _unverified(user)

    def admin_update_user_attributes(self, user_pool_id: str, username: str, attributes: list[dict[str, str]]) -> None:
        user = self.admin_get_user(user_pool_id, username)
        changed = _changed_email(user, attributes)
        admin(self, user_pool_id, username, attributes)
        if changed and not any(a["Name"] == "email_verified" for a in attributes):
            _unverified(user)

    # Patches of moto's backend (and the mark that they are applied).
    CognitoIdpBackend.update_user_attributes = update_user_attributes  # type: ignore[method-assign]
    CognitoIdpBackend.admin_update_user_attributes = admin_update_user_attributes  # type: ignore[method-assign]
    CognitoIdpBackend._devstack_email_rule = True  # type: ignore[attr-defined]


SENT_EMAIL_PATH = "/_devstack/ses/raw-messages"


def serve_sent_email() -> None:
    """SES has no API that lists what was sent; moto keeps it, and its ``/moto-api/data.json`` dump
    of every model fails (500) as soon as a Lambda function exists (it asks Docker about it). This
    route lists only SES's accepted raw messages: ``[{"source", "destinations", "raw_data"}]``."""
    import json

    import moto.server
    from moto.ses.models import RawMessage, ses_backends

    class App(moto.server.DomainDispatcherApplication):
        def __call__(self, environ, start_response):
            if environ.get("PATH_INFO") != SENT_EMAIL_PATH:
                return super().__call__(environ, start_response)
            sent = [{"source": m.source, "destinations": list(m.destinations), "raw_data": m.raw_data}
                    for regions in ses_backends.values() for backend in regions.values()
                    for m in backend.sent_messages if isinstance(m, RawMessage)]
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(sent).encode()]

    moto.server.DomainDispatcherApplication = App  # type: ignore[misc]  # moto's server builds ours


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    host = argv[argv.index("-H") + 1] if "-H" in argv else "127.0.0.1"
    if not ipaddress.ip_address(host).is_loopback:
        raise SystemExit("-H must be a loopback address")
    model_email_verification()
    serve_sent_email()
    from moto.server import main as moto_main

    moto_main(argv)


if __name__ == "__main__":
    main()
