from __future__ import annotations

from datetime import timedelta

from flask import current_app, g, request
from flask_smorest import Blueprint

from app.auth import service
from app.auth.guard import current_user, roles_required
from app.auth.schemas import (
    LoginResponseSchema, LoginSchema, MeSchema, PasswordChangeSchema, UserCreateSchema, UserListArgsSchema,
    UserPageSchema, UserPatchSchema, UserSchema,
)
from app.extensions import limiter

blp = Blueprint("auth", __name__, url_prefix="/api/v1", description="Login, logout and the caller")
users_blp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="The helpline's users (admin)")


def _login_email() -> str:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return email.strip().lower()[:254] if isinstance(email, str) else ""


def _login_rate_key() -> str:
    return f"login:{_login_email()}:{request.remote_addr}"


def _login_address_key() -> str:
    return f"login-address:{request.remote_addr}"


def _login_account_key() -> str:
    return f"login-account:{_login_email()}"


def _failed(response) -> bool:
    return response.status_code == 401


# Only failed attempts count, against three limits (counters shared by every worker through
# RATELIMIT_STORAGE_URI): an email from one address; one address trying many emails; and one
# account tried from many addresses, with longer windows behind the short one as back-off.
@blp.route("/auth/login", methods=["POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_rate_key, deduct_when=_failed)
@limiter.limit(lambda: current_app.config["LOGIN_ADDRESS_RATE_LIMIT"], key_func=_login_address_key,
               deduct_when=_failed)
@limiter.limit(lambda: current_app.config["LOGIN_ACCOUNT_RATE_LIMIT"], key_func=_login_account_key,
               deduct_when=_failed)
@blp.arguments(LoginSchema)
@blp.response(201, LoginResponseSchema)
@blp.doc(security=[])
def login(args):
    """Exchange an email and password for a bearer token."""
    ttl = timedelta(hours=current_app.config["API_TOKEN_TTL_HOURS"])
    raw, token = service.login(args["email"], args["password"], ttl)
    return {"token": raw, "expires_at": token.expires_at, "user": token.user}


@blp.route("/auth/logout", methods=["POST"])
@blp.response(204)
def logout():
    """Revoke the token this request was made with."""
    service.revoke_token(g.token.id)


@blp.route("/me", methods=["GET"])
@blp.response(200, MeSchema)
def me():
    """The caller: role, helpline, availability, capacity and skills."""
    return current_user()


@blp.route("/me/password", methods=["POST"])
@blp.arguments(PasswordChangeSchema)
@blp.response(200, MeSchema)
def change_password(args):
    """Change one's own password. Every other token of the caller is revoked; this one stays."""
    return service.change_password(current_user(), g.token.id, args["current_password"], args["new_password"])


@users_blp.route("", methods=["GET"])
@roles_required("admin", "supervisor")
@users_blp.arguments(UserListArgsSchema, location="query")
@users_blp.response(200, UserPageSchema)
def list_users(args):
    """List the helpline's users (admins and supervisors)."""
    items, next_cursor = service.list_users(
        current_user().helpline_id, limit=args["limit"], cursor=args["cursor"], role=args.get("role")
    )
    return {"items": items, "next_cursor": next_cursor}


@users_blp.route("", methods=["POST"])
@roles_required("admin")
@users_blp.arguments(UserCreateSchema)
@users_blp.response(201, UserSchema)
def create_user(args):
    """Create a user in the caller's helpline (admin)."""
    return service.create_user(current_user().helpline_id, actor=current_user(), **args)


@users_blp.route("/<user_id>", methods=["GET"])
@roles_required("admin", "supervisor")
@users_blp.response(200, UserSchema)
def get_user(user_id):
    return service.get_user(current_user().helpline_id, user_id)


@users_blp.route("/<user_id>", methods=["PATCH"])
@roles_required("admin", "supervisor")
@users_blp.arguments(UserPatchSchema)
@users_blp.response(200, UserSchema)
def update_user(args, user_id):
    """Change a user. Admins change anything but their own role or activity; supervisors only `capacity` and
    `skills` (403 otherwise). The last active admin cannot be demoted or deactivated (409)."""
    return service.update_user(current_user(), user_id, args)
