"""The Cognito user pool's admin API (the moto server locally): users, groups, sign-in.

Only services, selectors and commands call this module; it holds no business rules.
"""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from saas import aws


class CognitoUnavailable(Exception):
    """The user pool could not be reached."""


@dataclass(frozen=True)
class CognitoUser:
    sub: str
    username: str
    email: str
    attributes: dict
    created: bool = False  # True when this call created the user


def _client():
    return aws.client("cognito-idp")


def _pool() -> str:
    return settings.COGNITO_USER_POOL_ID


def _call(operation: str, **kwargs) -> dict:
    try:
        return getattr(_client(), operation)(**kwargs)
    except BotoCoreError as exc:
        raise CognitoUnavailable(type(exc).__name__) from exc


def _user(raw: dict, *, created: bool = False) -> CognitoUser:
    attributes = {a["Name"]: a["Value"] for a in raw.get("Attributes") or raw.get("UserAttributes") or []}
    return CognitoUser(sub=attributes["sub"], username=raw["Username"], email=attributes.get("email", ""),
                       attributes=attributes, created=created)


def _code(exc: ClientError) -> str:
    return exc.response["Error"]["Code"]


def find_user(username: str) -> CognitoUser | None:
    """AdminGetUser: ``username`` is the pool username (or an alias the pool accepts). Operators'
    commands pass the email they typed; request handling passes the verified token's username."""
    try:
        return _user(_call("admin_get_user", UserPoolId=_pool(), Username=username))
    except ClientError as exc:
        if _code(exc) == "UserNotFoundException":
            return None
        raise


def create_user(*, email: str, tenant_id: str | None = None, suppress_message: bool = False) -> CognitoUser:
    """AdminCreateUser. Without ``suppress_message`` Cognito emails the invitation (temporary password)."""
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    if tenant_id:
        attributes.append({"Name": "custom:tenant_id", "Value": tenant_id})
    kwargs = {"MessageAction": "SUPPRESS"} if suppress_message else {"DesiredDeliveryMediums": ["EMAIL"]}
    raw = _call("admin_create_user", UserPoolId=_pool(), Username=email, UserAttributes=attributes,
                **kwargs)["User"]
    return _user(raw, created=True)


def find_or_create_user(*, email: str, tenant_id: str | None = None, suppress_message: bool = False) -> CognitoUser:
    existing = find_user(email)
    if existing is not None:
        return existing
    try:
        return create_user(email=email, tenant_id=tenant_id, suppress_message=suppress_message)
    except ClientError as exc:
        if _code(exc) == "UsernameExistsException":  # created concurrently
            found = find_user(email)
            if found is not None:
                return found
        raise


def delete_user(username: str) -> None:
    try:
        _call("admin_delete_user", UserPoolId=_pool(), Username=username)
    except ClientError as exc:
        if _code(exc) != "UserNotFoundException":
            raise


def set_password(username: str, password: str) -> None:
    _call("admin_set_user_password", UserPoolId=_pool(), Username=username, Password=password, Permanent=True)


def groups_of(username: str) -> set[str]:
    raw = _call("admin_list_groups_for_user", UserPoolId=_pool(), Username=username)
    return {g["GroupName"] for g in raw.get("Groups", [])}


def ensure_group(group: str) -> None:
    try:
        _call("get_group", UserPoolId=_pool(), GroupName=group)
    except ClientError as exc:
        if _code(exc) != "ResourceNotFoundException":
            raise
        _call("create_group", UserPoolId=_pool(), GroupName=group)


def add_to_group(username: str, group: str) -> None:
    _call("admin_add_user_to_group", UserPoolId=_pool(), Username=username, GroupName=group)


def sign_in(username: str, password: str) -> dict:
    """USER_PASSWORD_AUTH against the first app client: {"IdToken", "AccessToken", ...}."""
    return _call("initiate_auth", ClientId=settings.COGNITO_APP_CLIENT_IDS[0], AuthFlow="USER_PASSWORD_AUTH",
                 AuthParameters={"USERNAME": username, "PASSWORD": password})["AuthenticationResult"]
