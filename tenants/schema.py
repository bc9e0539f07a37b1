"""OpenAPI description of our authentication (drf-spectacular extension): a bearer JWT from the
Cognito user pool, or the browser's session cookie (writes then need the CSRF token)."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class VerifiedIdentityScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.VerifiedIdentityAuthentication"
    name = ["cognitoBearer", "browserSession"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
             "description": "A Cognito ID or access token (RS256, verified locally)."},
            {"type": "apiKey", "in": "cookie", "name": "sessionid",
             "description": "Browser session from the OIDC sign-in; unsafe methods need X-CSRFToken."},
        ]
