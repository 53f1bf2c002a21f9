from __future__ import annotations

from flask_smorest import Blueprint

from app.auth.guard import current_user, roles_required
from app.reviews import service
from app.reviews.schemas import (
    MyReviewsArgsSchema, ReviewCreateSchema, ReviewFormSchema, ReviewListArgsSchema, ReviewListSchema,
    ReviewPageSchema, ReviewSchema, ReviewSummarySchema, SummaryArgsSchema,
)

blp = Blueprint("reviews", __name__, url_prefix="/api/v1",
                description="Quality reviews: the review form (admins), reviews of finalized contacts (supervisors), "
                            "a counsellor's own reviews. Every read is audited.")


@blp.route("/helpline/review-form", methods=["GET"])
@roles_required("admin", "supervisor")
@blp.response(200, ReviewFormSchema)
def get_review_form():
    """The criteria reviews score (admins; supervisors read it to write reviews)."""
    return {"criteria": service.review_form(current_user().helpline_id)}


@blp.route("/helpline/review-form", methods=["PUT"])
@roles_required("admin")
@blp.arguments(ReviewFormSchema)
@blp.response(200, ReviewFormSchema)
def put_review_form(args):
    """Replace the criteria (admins). Reviews already written keep the criteria they were scored on."""
    return {"criteria": service.set_review_form(current_user(), args["criteria"])}


@blp.route("/contacts/<contact_id>/reviews", methods=["POST"])
@roles_required("supervisor")
@blp.arguments(ReviewCreateSchema)
@blp.response(201, ReviewSchema)
@blp.alt_response(409, description="`contact_not_finalized`, or `no_review_form`.")
def create_review(args, contact_id):
    """Review a finalized contact (supervisors): every criterion scored 0..max; `score` is weighted, 0-100."""
    return service.create_review(current_user(), contact_id, args["scores"], args["comment"])


@blp.route("/contacts/<contact_id>/reviews", methods=["GET"])
@roles_required("supervisor", "counsellor")
@blp.response(200, ReviewListSchema)
def contact_reviews(contact_id):
    """The contact's reviews: supervisors (who may view the contact) all; its counsellor the reviews of their work."""
    return {"items": service.contact_reviews(current_user(), contact_id)}


@blp.route("/reviews", methods=["GET"])
@roles_required("supervisor")
@blp.arguments(ReviewListArgsSchema, location="query")
@blp.response(200, ReviewPageSchema)
def list_reviews(args):
    """The helpline's reviews, newest first, by counsellor and period (supervisors)."""
    items, next_cursor = service.list_reviews(current_user(), counsellor_id=args["counsellor_id"],
                                              start=args["from"], end=args["to"], limit=args["limit"],
                                              cursor=args["cursor"])
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/reviews/summary", methods=["GET"])
@roles_required("supervisor")
@blp.arguments(SummaryArgsSchema, location="query")
@blp.response(200, ReviewSummarySchema)
def review_summary(args):
    """Per-criterion averages for the helpline over the period (supervisors); never per counsellor."""
    return service.summary(current_user(), args["from"], args["to"])


@blp.route("/me/reviews", methods=["GET"])
@roles_required("counsellor", "supervisor")
@blp.arguments(MyReviewsArgsSchema, location="query")
@blp.response(200, ReviewPageSchema)
def my_reviews(args):
    """Reviews of your own work, newest first."""
    items, next_cursor = service.my_reviews(current_user(), start=args["from"], end=args["to"], limit=args["limit"],
                                            cursor=args["cursor"])
    return {"items": items, "next_cursor": next_cursor}
