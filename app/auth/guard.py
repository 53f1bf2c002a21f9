"""Bearer-token authentication for all of /api/v1, and role checks.

Authentication is on by default: every /api/v1 endpoint needs a token unless
it is listed in PUBLIC_ENDPOINTS, so a new route cannot be left open by
forgetting a decorator.
"""
from __future__ import annotations

import functools

from flask import Flask, g, request

from app.auth.models import User
from app.auth.service import authenticate_token, redeem_stream_ticket
from app.core.errors import Forbidden, Unauthorized

PUBLIC_ENDPOINTS = {"auth.login", "api-docs.openapi_json"}
# What a user whose password an admin set may do before changing it.
PASSWORD_CHANGE_ENDPOINTS = {"auth.change_password", "auth.logout", "auth.me"}
# Where a single-use `?ticket=` may stand in for the header (browsers' EventSource sends no headers).
TICKET_ENDPOINTS = {"live.stream"}


def init_auth(app: Flask) -> None:
    @app.before_request
    def _authenticate():
        if not request.path.startswith("/api/v1/") or request.endpoint in PUBLIC_ENDPOINTS:
            return
        if request.method == "OPTIONS":
            return
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if request.endpoint in TICKET_ENDPOINTS and not raw.strip() and "ticket" in request.args:
            token = redeem_stream_ticket(request.args["ticket"])
            if token is None:
                raise Unauthorized("The ticket is invalid, expired or already used.", code="invalid_ticket")
        elif scheme.lower() != "bearer" or not raw.strip():
            raise Unauthorized("Send 'Authorization: Bearer <token>'.", code="missing_token")
        else:
            token = authenticate_token(raw.strip())
        if token is None:
            raise Unauthorized("The token is invalid, expired or revoked.", code="invalid_token")
        g.user = token.user
        g.user_id = token.user.id
        g.token = token
        if token.user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            raise Forbidden("Change the password an admin set before anything else (POST /api/v1/me/password).",
                            code="password_change_required")


def current_user() -> User:
    return g.user


def roles_required(*roles: str):
    """Refuse (403) callers whose role is not one of `roles`; put it above @blp.arguments."""

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if g.user.role not in roles:
                raise Forbidden(f"This needs one of the roles: {', '.join(roles)}.")
            return view(*args, **kwargs)

        return wrapper

    return decorator
