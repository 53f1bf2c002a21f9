"""Passwords, API tokens, login and the helpline's users."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from app.audit import service as audit
from app.auth.events import CounsellorChanged
from app.auth.models import ApiToken, StreamTicket, User
from app.core.db import commit_unique, for_update
from app.core.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from app.core.events import emit
from app.core.ids import new_id
from app.core.pagination import paginate
from app.core.time import utcnow
from app.extensions import db
# A read of another domain's table (named in the import-linter contract).
from app.routing.models import Queue

TOKEN_PREFIX = "hlt_"
TICKET_PREFIX = "hls_"
# What a supervisor may change on a user; everything else is the admin's.
SUPERVISOR_USER_FIELDS = frozenset({"capacity", "skills"})
MIN_PASSWORD_LENGTH = 12
# zxcvbn's score, 0 (guessable in seconds) to 4; 3 resists an offline attack on a slow hash.
MIN_PASSWORD_SCORE = 3
EMAIL_TAKEN = ("A user with this email exists.", "email_taken")


def check_password_strength(password: str, *, user_inputs: tuple = (), field: str = "password") -> None:
    """422 on `field` unless the password is long and hard to guess; the API and the CLI share this rule."""
    problems = []
    if len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    else:
        # zxcvbn's cost grows with length; its verdict on the first 100 characters is the one that matters.
        verdict = zxcvbn(password[:100], user_inputs=[i for i in user_inputs if i])
        if verdict["score"] < MIN_PASSWORD_SCORE:
            hint = verdict["feedback"].get("warning") or "It is too easy to guess."
            problems.append(f"{hint} Add more words or characters.".strip())
    if problems:
        raise ValidationFailed(details={field: problems})


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


def issue_stream_ticket(token: ApiToken, ttl: timedelta) -> tuple[str, StreamTicket]:
    """A single-use ticket acting for `token` on GET /api/v1/events (for EventSource); raw value returned once."""
    raw = TICKET_PREFIX + secrets.token_urlsafe(32)
    ticket = StreamTicket(ticket_hash=hash_token(raw), token_id=token.id,
                          expires_at=min(utcnow() + ttl, token.expires_at))
    db.session.add(ticket)
    db.session.commit()
    return raw, ticket


def redeem_stream_ticket(raw_ticket: str) -> ApiToken | None:
    """The live token a ticket acts for, or None; the ticket is spent whatever happens next.

    One conditional UPDATE marks it used, so two requests racing with one ticket get one stream."""
    if not raw_ticket.startswith(TICKET_PREFIX) or len(raw_ticket) > 100:
        return None
    now = utcnow()
    token_id = db.session.scalar(
        sa.update(StreamTicket)
        .where(StreamTicket.ticket_hash == hash_token(raw_ticket), StreamTicket.used_at.is_(None),
               StreamTicket.expires_at > now)
        .values(used_at=now)
        .returning(StreamTicket.token_id)
    )
    db.session.commit()
    if token_id is None:
        return None
    return db.session.scalar(
        sa.select(ApiToken).join(ApiToken.user).where(
            ApiToken.id == token_id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > now, User.active.is_(True))
    )


def token_is_live(token_id: str) -> bool:
    return db.session.scalar(
        sa.select(ApiToken.id).join(ApiToken.user).where(
            ApiToken.id == token_id, ApiToken.revoked_at.is_(None), ApiToken.expires_at > utcnow(),
            User.active.is_(True))
    ) is not None


def revoke_tokens_of(user_id: str, *, except_token_id: str | None = None) -> None:
    """Every live token of the user stops working (in the caller's transaction)."""
    stmt = sa.update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
    if except_token_id is not None:
        stmt = stmt.where(ApiToken.id != except_token_id)
    db.session.execute(stmt.values(revoked_at=utcnow()))


def change_password(user: User, token_id: str, current_password: str, new_password: str) -> User:
    """The user's own change: the current password must match; their other tokens are revoked."""
    me = db.session.get(User, user.id)
    if not _hashing().matches(me.password_hash, current_password):
        raise Forbidden("The current password is wrong.", code="wrong_password")
    if new_password == current_password:
        raise ValidationFailed(details={"new_password": ["Choose a password you have not used here."]})
    check_password_strength(new_password, user_inputs=(me.email, me.name), field="new_password")
    me.password_hash = hash_password(new_password)
    me.must_change_password = False
    revoke_tokens_of(me.id, except_token_id=token_id)
    audit.record(me, "change_password", "user", me.id, ["password"])
    db.session.commit()
    return me


def revoke_token(token_id: str) -> None:
    db.session.execute(
        sa.update(ApiToken).where(ApiToken.id == token_id, ApiToken.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    db.session.commit()


def purge_expired_tokens(older_than: timedelta = timedelta(days=7)) -> int:
    """Delete tokens that expired or were revoked more than a week ago (a scheduler job)."""
    cutoff = utcnow() - older_than
    db.session.execute(sa.delete(StreamTicket).where(StreamTicket.expires_at < utcnow()))
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
    queue_ids = set((skills or {}).get("queues") or [])
    if not queue_ids:
        return
    known = set(db.session.scalars(sa.select(Queue.id).where(Queue.helpline_id == helpline_id, Queue.id.in_(queue_ids))))
    unknown = sorted(queue_ids - known)
    if unknown:
        raise ValidationFailed(details={"skills": {"queues": [f"Unknown queue: {q}" for q in unknown]}})


def create_user(
    helpline_id: str, email: str, role: str, *, name: str = "", password: str | None = None,
    capacity: dict | None = None, skills: dict | None = None, actor: User | None = None,
) -> User:
    """A new user. A password set by an admin (`actor`) is one-time: it must be changed at first use.

    The unique email constraint decides a race between two creations, not a look first (409)."""
    email = email.strip().lower()
    if password is not None:
        check_password_strength(password, user_inputs=(email, name))
    _check_queue_skills(helpline_id, skills)
    user = User(
        id=new_id(), helpline_id=helpline_id, email=email, role=role, name=name or "",
        password_hash=hash_password(password) if password else None,
        must_change_password=actor is not None and password is not None,
        capacity=capacity or {}, skills=skills or {},
    )
    db.session.add(user)
    if actor is not None:
        audit.record(actor, "create", "user", user.id, ["email", "role", "name", "capacity", "skills",
                                                         *(["password"] if password else [])])
    commit_unique(*EMAIL_TAKEN)
    return user


def _check_admin_changes(actor: User, user: User, changes: dict) -> None:
    """No one raises or lowers their own role or switches themselves off; a helpline keeps an active admin."""
    demoted = "role" in changes and changes["role"] != user.role
    deactivated = changes.get("active") is False and user.active
    if user.id == actor.id and demoted:
        raise Forbidden("You cannot change your own role.", code="own_role")
    if user.id == actor.id and deactivated:
        raise Forbidden("You cannot deactivate yourself.", code="own_account")
    if user.role == "admin" and user.active and (demoted or deactivated):
        # Every active admin's row locked, in one order: two admins demoting each other at once
        # queue up instead of both succeeding (or deadlocking), and the second sees the first's change.
        admins = db.session.scalars(
            for_update(sa.select(User.id).where(User.helpline_id == user.helpline_id, User.role == "admin",
                                                User.active.is_(True)).order_by(User.id))
        ).all()
        if not set(admins) - {user.id}:
            raise Conflict("The helpline's last active admin cannot be removed.", code="last_admin")


def update_user(actor: User, user_id: str, changes: dict) -> User:
    """Admins change anything but their own role; supervisors only capacity and skills. Audited by field name.

    A new role or a password set by an admin revokes the user's tokens; that password is one-time."""
    user = get_user(actor.helpline_id, user_id)
    if actor.role == "supervisor":
        refused = sorted(set(changes) - SUPERVISOR_USER_FIELDS)
        if refused:
            raise Forbidden("Supervisors may change only capacity and skills.", details={"fields": refused})
    elif actor.role != "admin":
        raise Forbidden()
    _check_admin_changes(actor, user, changes)
    if "password" in changes:
        check_password_strength(changes["password"], user_inputs=(user.email, user.name))
    if "email" in changes:
        user.email = changes["email"].strip().lower()
    if "skills" in changes:
        _check_queue_skills(actor.helpline_id, changes["skills"])
    revoke = "password" in changes or ("role" in changes and changes["role"] != user.role)
    for field in ("name", "role", "capacity", "skills"):
        if field in changes:
            setattr(user, field, changes[field])
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        user.must_change_password = True
    if "active" in changes:
        user.active = changes["active"]
        if not user.active:
            user.availability = "offline"
            revoke = True
    if revoke:
        # A deactivated or re-roled user's sessions end at once; so do an admin's when it sets their password.
        revoke_tokens_of(user.id)
    audit.record(actor, "update", "user", user.id, sorted(changes))
    if {"capacity", "skills", "active", "role"} & set(changes):
        # More room or new skills can take waiting contacts now (routing reacts).
        emit(CounsellorChanged(user.helpline_id, user.id))
    commit_unique(*EMAIL_TAKEN)
    return user
