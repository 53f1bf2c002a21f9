"""Passwords, API tokens, login and the helpline's users."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from app.auth.models import ApiToken, User
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from app.core.pagination import paginate
from app.core.time import utcnow
from app.extensions import db

TOKEN_PREFIX = "hlt_"
# What a supervisor may change on a user; everything else is the admin's.
SUPERVISOR_USER_FIELDS = frozenset({"capacity", "skills"})

class PasswordHashing:
    """argon2 with the app's cost settings (the testing config lowers them)."""

    def __init__(self, time_cost: int, memory_cost: int):
        self.hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
        # Verified against when the email is unknown, so a miss costs as long as a hit.
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def matches(self, stored: str | None, password: str) -> bool:
        try:
            self.hasher.verify(stored or self.dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return stored is not None


def _hashing() -> PasswordHashing:
    return current_app.extensions["password_hashing"]


def hash_password(password: str) -> str:
    return _hashing().hasher.hash(password)


def hash_token(raw_token: str) -> str:
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def issue_token(user: User, ttl: timedelta) -> tuple[str, ApiToken]:
    """A new bearer token for `user`; the raw value exists only in the return value."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, token_hash=hash_token(raw), expires_at=utcnow() + ttl)
    db.session.add(token)
    db.session.commit()
    return raw, token


def login(email: str, password: str, ttl: timedelta) -> tuple[str, ApiToken]:
    user = db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))
    if not _hashing().matches(user.password_hash if user else None, password) or not user.active:
        raise Unauthorized("Email or password is wrong.", code="invalid_credentials")
    if _hashing().hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return issue_token(user, ttl)


def authenticate_token(raw_token: str) -> ApiToken | None:
    """The live token for this raw value, with its user loaded, or None."""
    if not raw_token.startswith(TOKEN_PREFIX) or len(raw_token) > 100:
        return None
    return db.session.scalar(
        sa.select(ApiToken)
        .join(ApiToken.user)
        .where(
            ApiToken.token_hash == hash_token(raw_token),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > utcnow(),
            User.active.is_(True),
        )
    )


def revoke_token(token_id: str) -> None:
    db.session.execute(
        sa.update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    db.session.commit()


def purge_expired_tokens(older_than: timedelta = timedelta(days=7)) -> int:
    """Delete tokens that expired or were revoked more than a week ago (a scheduler job)."""
    cutoff = utcnow() - older_than
    result = db.session.execute(
        sa.delete(ApiToken).where(sa.or_(ApiToken.expires_at < cutoff, ApiToken.revoked_at < cutoff))
    )
    db.session.commit()
    return result.rowcount or 0


# --- users -----------------------------------------------------------------

def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(sa.select(User).where(User.email == email.strip().lower()))


def get_user(helpline_id: str, user_id: str) -> User:
    user = db.session.get(User, user_id)
    # Another helpline's user is "not found", never "forbidden".
    if user is None or user.helpline_id != helpline_id:
        raise NotFound("No such user.")
    return user


def list_users(helpline_id: str, *, limit: int, cursor: str | None, role: str | None = None):
    stmt = sa.select(User).where(User.helpline_id == helpline_id)
    if role:
        stmt = stmt.where(User.role == role)
    return paginate(db.session, stmt, User.id, limit=limit, cursor=cursor, newest_first=False)


def _check_queue_skills(helpline_id: str, skills: dict | None) -> None:
    from app.routing.models import Queue

    queue_ids = set((skills or {}).get("queues") or [])
    if not queue_ids:
        return
    known = set(db.session.scalars(sa.select(Queue.id).where(Queue.helpline_id == helpline_id, Queue.id.in_(queue_ids))))
    unknown = sorted(queue_ids - known)
    if unknown:
        raise ValidationFailed(details={"skills": {"queues": [f"Unknown queue: {q}" for q in unknown]}})


def create_user(
    helpline_id: str, email: str, role: str, *, name: str = "", password: str | None = None,
    capacity: dict | None = None, skills: dict | None = None,
) -> User:
    email = email.strip().lower()
    if find_user_by_email(email) is not None:
        raise Conflict("A user with this email exists.", code="email_taken")
    _check_queue_skills(helpline_id, skills)
    user = User(
        helpline_id=helpline_id, email=email, role=role, name=name or "",
        password_hash=hash_password(password) if password else None,
        capacity=capacity or {}, skills=skills or {},
    )
    db.session.add(user)
    db.session.commit()
    return user


def update_user(actor: User, user_id: str, changes: dict) -> User:
    """Admins change anything; supervisors only capacity and skills."""
    user = get_user(actor.helpline_id, user_id)
    if actor.role == "supervisor":
        refused = sorted(set(changes) - SUPERVISOR_USER_FIELDS)
        if refused:
            raise Forbidden("Supervisors may change only capacity and skills.", details={"fields": refused})
    elif actor.role != "admin":
        raise Forbidden()
    if "email" in changes:
        email = changes["email"].strip().lower()
        other = find_user_by_email(email)
        if other is not None and other.id != user.id:
            raise Conflict("A user with this email exists.", code="email_taken")
        user.email = email
    if "skills" in changes:
        _check_queue_skills(actor.helpline_id, changes["skills"])
    for field in ("name", "role", "capacity", "skills"):
        if field in changes:
            setattr(user, field, changes[field])
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
    if "active" in changes:
        user.active = changes["active"]
        if not user.active:
            user.availability = "offline"
            # A deactivated user's tokens stop working at once.
            db.session.execute(
                sa.update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
            )
    db.session.commit()
    if {"capacity", "skills", "active", "role"} & set(changes):
        # More room or new skills can take waiting contacts now.
        from app.routing.service import dispatch_safely

        dispatch_safely(user.helpline_id)
    return user
