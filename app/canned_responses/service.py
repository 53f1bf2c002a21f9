"""Canned responses: the helpline's (kept by supervisors and admins, seen by everyone) and each
user's personal ones (seen only by their owner). Title, text and shortcut are encrypted, so a
search decrypts the caller's visible set (bounded by MAX_PER_SCOPE) and filters it here."""
from __future__ import annotations

import sqlalchemy as sa

from app.auth.models import User
from app.canned_responses.models import CannedResponse
from app.canned_responses.schemas import PLACEHOLDERS
from app.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.core.pagination import decode_cursor, encode_cursor
from app.extensions import db
from app.helplines.service import get_helpline

HELPLINE_KEEPERS = ("supervisor", "admin")
# Per helpline for the helpline's scope, per user for personal ones: a list is searched in memory.
MAX_PER_SCOPE = 1000


def _visible(user: User):
    return sa.select(CannedResponse).where(
        CannedResponse.helpline_id == user.helpline_id,
        sa.or_(CannedResponse.scope == "helpline", CannedResponse.owner_id == user.id))


def _check_may_keep(user: User, scope: str) -> None:
    if scope == "helpline" and user.role not in HELPLINE_KEEPERS:
        raise Forbidden("Only supervisors and admins keep the helpline's canned responses.")


def get_response_for(user: User, response_id: str, *, keep: bool = False) -> CannedResponse:
    """A response the user may see (another's personal one, or another helpline's, is 404); with
    `keep`, one they may also change."""
    response = db.session.scalar(_visible(user).where(CannedResponse.id == response_id))
    if response is None:
        raise NotFound("No such canned response.")
    if keep:
        _check_may_keep(user, response.scope)
    return response


def list_responses(user: User, *, q: str | None, language: str | None, scope: str | None,
                   limit: int, cursor: str | None) -> tuple[list[CannedResponse], str | None]:
    """The helpline's and the caller's own, newest first; `q` matches words of the title or shortcut."""
    stmt = _visible(user)
    if language:
        stmt = stmt.where(CannedResponse.language == language)
    if scope:
        stmt = stmt.where(CannedResponse.scope == scope)
    if cursor:
        stmt = stmt.where(CannedResponse.id < decode_cursor(cursor))
    found = db.session.scalars(stmt.order_by(CannedResponse.id.desc()))
    words = q.casefold().split() if q else []
    page = []
    for response in found:
        haystack = f"{response.title} {response.shortcut or ''}".casefold()
        if all(word in haystack for word in words):
            page.append(response)
            if len(page) > limit:
                break
    next_cursor = encode_cursor(page[limit - 1].id) if len(page) > limit else None
    return page[:limit], next_cursor


def _check_room(user: User, scope: str) -> None:
    owner = CannedResponse.owner_id == user.id if scope == "personal" else CannedResponse.owner_id.is_(None)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(CannedResponse).where(
        CannedResponse.helpline_id == user.helpline_id, CannedResponse.scope == scope, owner))
    if count >= MAX_PER_SCOPE:
        raise Conflict(f"At most {MAX_PER_SCOPE} {scope} canned responses.", code="too_many_canned_responses")


def create_response(user: User, fields: dict) -> CannedResponse:
    scope = fields["scope"]
    _check_may_keep(user, scope)
    _check_room(user, scope)
    response = CannedResponse(
        helpline_id=user.helpline_id, scope=scope, owner_id=user.id if scope == "personal" else None,
        title=fields["title"], text=fields["text"], shortcut=fields.get("shortcut"),
        language=fields.get("language"), created_by=user.id)
    db.session.add(response)
    db.session.commit()
    return response


def update_response(user: User, response_id: str, fields: dict) -> CannedResponse:
    response = get_response_for(user, response_id, keep=True)
    if "scope" in fields and fields["scope"] != response.scope:
        raise ValidationFailed(details={"scope": ["A response's scope cannot change: create a new one."]})
    for name in ("title", "text", "shortcut", "language"):
        if name in fields:
            setattr(response, name, fields[name])
    db.session.commit()
    return response


def delete_response(user: User, response_id: str) -> None:
    db.session.delete(get_response_for(user, response_id, keep=True))
    db.session.commit()


def placeholder_values(user: User) -> dict[str, str]:
    """What the placeholders stand for, for this caller: their name and the helpline's, never a child's data."""
    return dict(zip(PLACEHOLDERS, (user.name or "", get_helpline(user.helpline_id).name or "")))


def render_text(text: str, values: dict[str, str]) -> str:
    """Only the known placeholders are replaced (no format string: other braces stay as typed)."""
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return text


def serialise_response(response: CannedResponse, values: dict[str, str] | None = None) -> dict:
    """The response; with `values` (placeholder_values), its text rendered."""
    return {
        "id": response.id, "scope": response.scope, "owner_id": response.owner_id, "title": response.title,
        "text": render_text(response.text, values) if values is not None else response.text,
        "shortcut": response.shortcut, "language": response.language,
        "created_at": response.created_at, "updated_at": response.updated_at,
    }
