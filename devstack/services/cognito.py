"""The Cognito user pool, app clients and groups on the moto server."""
from __future__ import annotations

import json
from collections.abc import Mapping

from .common import ServiceError, boto3_client, http_get


def provision_cognito(
    moto_endpoint: str,
    region: str = "us-east-1",
    *,
    pool_name: str = "saas-local",
    client_name: str = "saas-local-app",
    admin_group: str = "system_admin",
    verify: bool = True,
) -> dict[str, str]:
    """Create a user pool (custom mutable string attribute ``tenant_id``), an app client without a
    secret (USER_PASSWORD_AUTH, ADMIN_USER_PASSWORD_AUTH, REFRESH_TOKEN_AUTH; reads
    ``custom:tenant_id`` and ``email``) and the group ``system_admin`` on the moto server.

    Returns env vars: COGNITO_USER_POOL_ID, COGNITO_APP_CLIENT_IDS, COGNITO_ISSUER,
    COGNITO_JWKS_URL, COGNITO_ENDPOINT_URL.

    moto signs RS256 tokens with the real issuer form ``https://cognito-idp.<region>.amazonaws.com/<pool>``
    (that URL is not reachable locally); the matching JWKS is served by the moto server itself at
    ``<moto>/<pool>/.well-known/jwks.json`` (one static key, ``kid`` "dummy", for every pool).
    With ``verify`` (default) both facts are checked: a throwaway user signs in, the ID token's
    ``iss`` and signature are verified against the JWKS fetched over HTTP, and the user is deleted.
    """
    moto_endpoint = moto_endpoint.rstrip("/")
    cognito = boto3_client("cognito-idp", moto_endpoint, region)
    pool = cognito.create_user_pool(
        PoolName=pool_name,
        Schema=[
            {
                "Name": "tenant_id",
                "AttributeDataType": "String",
                "Mutable": True,
                "Required": False,
                "StringAttributeConstraints": {"MinLength": "1", "MaxLength": "128"},
            },
        ],
        AutoVerifiedAttributes=["email"],
        AdminCreateUserConfig={"AllowAdminCreateUserOnly": False},  # self sign-up, as deploy/stack.yaml
    )["UserPool"]
    pool_id = pool["Id"]
    app_client = cognito.create_user_pool_client(
        UserPoolId=pool_id,
        ClientName=client_name,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        ReadAttributes=["custom:tenant_id", "email", "email_verified"],
        WriteAttributes=["email"],
    )["UserPoolClient"]
    client_id = app_client["ClientId"]
    cognito.create_group(GroupName=admin_group, UserPoolId=pool_id, Description="Platform operators")

    env = {
        "COGNITO_USER_POOL_ID": pool_id,
        "COGNITO_APP_CLIENT_IDS": client_id,
        "COGNITO_ISSUER": f"https://cognito-idp.{region}.amazonaws.com/{pool_id}",
        "COGNITO_JWKS_URL": f"{moto_endpoint}/{pool_id}/.well-known/jwks.json",
        "COGNITO_ENDPOINT_URL": moto_endpoint,
    }
    if verify:
        _verify_cognito(cognito, env)
    return env


def _verify_cognito(cognito, env: Mapping[str, str]) -> None:
    import jwt  # PyJWT

    pool_id, client_id = env["COGNITO_USER_POOL_ID"], env["COGNITO_APP_CLIENT_IDS"]
    username, password = "devstack-probe@example.invalid", "Probe-Passw0rd!"
    cognito.admin_create_user(
        UserPoolId=pool_id, Username=username, MessageAction="SUPPRESS",
        UserAttributes=[{"Name": "email", "Value": username}, {"Name": "custom:tenant_id", "Value": "probe"}],
    )
    try:
        cognito.admin_set_user_password(UserPoolId=pool_id, Username=username, Password=password, Permanent=True)
        result = cognito.initiate_auth(
            ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )["AuthenticationResult"]
        status, body = http_get(env["COGNITO_JWKS_URL"], timeout=5)
        if status != 200:
            raise ServiceError(f"moto JWKS {env['COGNITO_JWKS_URL']} answered {status}")
        keys = jwt.PyJWKSet.from_dict(json.loads(body))
        token = result["IdToken"]
        key = keys[jwt.get_unverified_header(token)["kid"]]
        claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=client_id, issuer=env["COGNITO_ISSUER"])
        if claims.get("custom:tenant_id") != "probe":
            raise ServiceError(f"moto ID token lacks custom:tenant_id: {claims}")
    except jwt.PyJWTError as error:
        raise ServiceError(f"moto Cognito token does not verify as expected: {error}") from error
    finally:
        cognito.admin_delete_user(UserPoolId=pool_id, Username=username)
