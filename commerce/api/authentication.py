"""Token authentication: knox's hashed, expiring tokens, sent as `Authorization: Token <token>`."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from knox.auth import TokenAuthentication as KnoxTokenAuthentication


class TokenAuthentication(KnoxTokenAuthentication):
    """Customer tokens slide (each use pushes the expiry to TOKEN_TTL from now, up to
    AUTO_REFRESH_MAX_TTL after sign-in); staff tokens keep the expiry they were issued with, so a
    token made for a script with `create_api_token --days 7` really ends after seven days."""

    def renew_token(self, auth_token) -> None:
        if auth_token.user.is_staff:
            return
        super().renew_token(auth_token)


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "commerce.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An expiring API token, sent as "Token <token>".',
        }
