"""Quality reviews: the helpline's review form, supervisors' reviews of finalized contacts, and their summary.

A review is read like a record: every list or read is audited, the contact must be one the
supervisor may view (the permission rules), and the comment is encrypted. There is deliberately
no ranking of counsellors anywhere (no league tables): the summary is per criterion, for the
helpline as a whole.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app.audit import service as audit
from app.auth.models import User
from app.contacts.service import get_contact_for
from app.core.errors import Conflict, Forbidden, ValidationFailed
from app.core.pagination import paginate
from app.core.time import local_day_start
from app.extensions import db
from app.helplines.service import get_helpline
from app.reviews.models import Review, ReviewForm

# Who may read reviews at all: supervisors all of the helpline's, counsellors their own.
REVIEW_READERS = ("supervisor", "counsellor")


def review_form(helpline_id: str) -> list[dict]:
    form = db.session.get(ReviewForm, helpline_id)
    return list(form.criteria) if form else []


def set_review_form(user: User, criteria: list[dict]) -> list[dict]:
    form = db.session.get(ReviewForm, user.helpline_id)
    if form is None:
        form = ReviewForm(helpline_id=user.helpline_id)
        db.session.add(form)
    form.criteria, form.updated_by = criteria, user.id
    db.session.commit()
    return criteria


def weighted_score(criteria: list[dict], scores: dict[str, int]) -> float:
    """sum(weight * score / max) / sum(weight) * 100, to one decimal."""
    total_weight = sum(c["weight"] for c in criteria)
    earned = sum(c["weight"] * scores[c["id"]] / c["max"] for c in criteria)
    return round(earned / total_weight * 100, 1)


def _checked_scores(criteria: list[dict], scores: dict[str, int]) -> None:
    by_id = {c["id"]: c for c in criteria}
    errors = {key: ["Not a criterion of the review form."] for key in scores if key not in by_id}
    for criterion in criteria:
        given = scores.get(criterion["id"])
        if given is None:
            errors[criterion["id"]] = ["Missing: every criterion is scored."]
        elif not 0 <= given <= criterion["max"]:
            errors[criterion["id"]] = [f"From 0 to {criterion['max']}."]
    if errors:
        raise ValidationFailed(details={"scores": errors})


def create_review(user: User, contact_id: str, scores: dict[str, int], comment: str | None) -> Review:
    """A supervisor reviews a finalized contact they may view (404 otherwise, as for the record)."""
    contact = get_contact_for(user, contact_id, audit_as=None)
    if contact.finalized_at is None:
        raise Conflict("Only a finalized contact can be reviewed.", code="contact_not_finalized")
    criteria = review_form(user.helpline_id)
    if not criteria:
        raise Conflict("The helpline has no review form yet (PUT /api/v1/helpline/review-form).", code="no_review_form")
    _checked_scores(criteria, scores)
    review = Review(helpline_id=user.helpline_id, contact_id=contact.id, counsellor_id=contact.counsellor_id,
                    reviewer_id=user.id, criteria=criteria, scores=scores, score=weighted_score(criteria, scores),
                    comment=comment)
    db.session.add(review)
    db.session.flush()
    audit.record(user, "create", "review", review.id, ["scores", *(["comment"] if comment else [])])
    db.session.commit()
    return review


def _read(user: User, reviews: list[Review]) -> list[Review]:
    audit.record_many(user, "read", "review", [r.id for r in reviews])
    db.session.commit()
    return reviews


def contact_reviews(user: User, contact_id: str) -> list[Review]:
    """A contact's reviews: a supervisor who may view the contact sees all; its counsellor theirs."""
    if user.role not in REVIEW_READERS:
        raise Forbidden("Reviews are for supervisors, and for counsellors about their own work.")
    contact = get_contact_for(user, contact_id, audit_as=None)  # 404 for a contact they may not view
    stmt = sa.select(Review).where(Review.helpline_id == user.helpline_id, Review.contact_id == contact.id)
    if user.role != "supervisor":
        stmt = stmt.where(Review.counsellor_id == user.id)
    return _read(user, list(db.session.scalars(stmt.order_by(Review.id))))


def _window(helpline_id: str, start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    if start and end and end < start:
        raise ValidationFailed(details={"to": ["Must not be before from."]})
    zone = get_helpline(helpline_id).timezone
    return (local_day_start(start, zone) if start else None,
            local_day_start(end + timedelta(days=1), zone) if end else None)


def _in_window(stmt, helpline_id: str, start: date | None, end: date | None):
    window_start, window_end = _window(helpline_id, start, end)
    if window_start:
        stmt = stmt.where(Review.created_at >= window_start)
    if window_end:
        stmt = stmt.where(Review.created_at < window_end)
    return stmt


def list_reviews(user: User, *, counsellor_id: str | None, start: date | None, end: date | None,
                 limit: int, cursor: str | None) -> tuple[list[Review], str | None]:
    """The helpline's reviews, newest first (supervisors)."""
    stmt = _in_window(sa.select(Review).where(Review.helpline_id == user.helpline_id), user.helpline_id, start, end)
    if counsellor_id:
        stmt = stmt.where(Review.counsellor_id == counsellor_id)
    reviews, next_cursor = paginate(db.session, stmt, Review.id, limit=limit, cursor=cursor)
    return _read(user, reviews), next_cursor


def my_reviews(user: User, *, start: date | None, end: date | None, limit: int,
               cursor: str | None) -> tuple[list[Review], str | None]:
    """Reviews of the caller's own work, newest first."""
    stmt = _in_window(sa.select(Review).where(Review.helpline_id == user.helpline_id, Review.counsellor_id == user.id),
                      user.helpline_id, start, end)
    reviews, next_cursor = paginate(db.session, stmt, Review.id, limit=limit, cursor=cursor)
    return _read(user, reviews), next_cursor


def summary(user: User, start: date, end: date) -> dict:
    """Per criterion, the helpline's average over the period; no counsellor appears."""
    stmt = _in_window(sa.select(Review.criteria, Review.scores, Review.score)
                      .where(Review.helpline_id == user.helpline_id), user.helpline_id, start, end)
    rows = db.session.execute(stmt).all()
    current = {c["id"]: c for c in review_form(user.helpline_id)}
    totals: dict[str, dict] = {}
    for criteria, scores, _ in rows:
        for criterion in criteria:
            entry = totals.setdefault(criterion["id"], {"criterion": criterion, "sum": 0.0, "pct": 0.0, "n": 0})
            value = scores.get(criterion["id"])
            if value is None:
                continue
            entry["sum"] += value
            entry["pct"] += value / criterion["max"] * 100
            entry["n"] += 1
    criteria_out = []
    for criterion_id in [*current, *(k for k in totals if k not in current)]:
        entry = totals.get(criterion_id)
        shown = current.get(criterion_id) or entry["criterion"]
        n = entry["n"] if entry else 0
        criteria_out.append({
            "id": criterion_id, "label": shown["label"], "max": shown["max"], "reviews": n,
            "average": round(entry["sum"] / n, 2) if n else None,
            "average_pct": round(entry["pct"] / n, 1) if n else None,
        })
    return {"reviews": len(rows), "score_avg": round(sum(r[2] for r in rows) / len(rows), 1) if rows else None,
            "criteria": criteria_out}
