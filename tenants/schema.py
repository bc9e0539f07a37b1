"""OpenAPI description of our authentication (drf-spectacular extension): a bearer JWT from the
Cognito user pool, or the browser's session cookie (writes then need the CSRF token).

Loaded by the schema generator itself (``SPECTACULAR_SETTINGS["PREPROCESSING_HOOKS"]``), so serving
requests never imports drf-spectacular's plumbing (~0.1 s of a Lambda cold start)."""
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


def load(endpoints):
    """Preprocessing hook: importing this module registered the extension; endpoints pass through."""
    return endpoints
