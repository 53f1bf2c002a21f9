from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.core.pagination import PageArgsSchema, PageSchema

MAX_CRITERIA = 30


class CriterionSchema(ma.Schema):
    id = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{0,31}$", error="An id is lower-case letters, digits and _, at most 32."))
    label = fields.String(required=True, validate=validate.Length(1, 200))
    max = fields.Integer(required=True, strict=True, validate=validate.Range(1, 100))
    weight = fields.Float(required=True, allow_nan=False, validate=validate.Range(0, 100, min_inclusive=False))


def _unique_ids(criteria) -> None:
    ids = [c["id"] for c in criteria]
    if len(ids) != len(set(ids)):
        raise ma.ValidationError("Criterion ids must be unique.")


class ReviewFormSchema(ma.Schema):
    criteria = fields.List(fields.Nested(CriterionSchema), required=True,
                           validate=[validate.Length(max=MAX_CRITERIA), _unique_ids])


class ReviewCreateSchema(ma.Schema):
    scores = fields.Dict(keys=fields.String(validate=validate.Length(1, 32)),
                         values=fields.Integer(strict=True), required=True,
                         validate=validate.Length(1, MAX_CRITERIA),
                         metadata={"description": "Every criterion of the form: an integer from 0 to its max."})
    comment = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 4000),
                            metadata={"description": "Stored encrypted."})


class ReviewSchema(ma.Schema):
    id = fields.String()
    contact_id = fields.String()
    counsellor_id = fields.String(allow_none=True)
    reviewer_id = fields.String(allow_none=True)
    criteria = fields.List(fields.Dict(), metadata={"description": "The form's criteria when the review was written."})
    scores = fields.Dict()
    score = fields.Float(metadata={"description": "Weighted: sum(weight * score / max) / sum(weight) * 100."})
    comment = fields.String(allow_none=True)
    created_at = fields.DateTime()


class ReviewListSchema(ma.Schema):
    items = fields.List(fields.Nested(ReviewSchema))


class ReviewPageSchema(PageSchema):
    items = fields.List(fields.Nested(ReviewSchema))


class PeriodArgsSchema(ma.Schema):
    from_ = fields.Date(load_default=None, data_key="from", attribute="from",
                        metadata={"description": "YYYY-MM-DD, in the helpline's time zone."})
    to = fields.Date(load_default=None)


class ReviewListArgsSchema(PageArgsSchema, PeriodArgsSchema):
    counsellor_id = fields.String(load_default=None, validate=validate.Length(1, 36))


class MyReviewsArgsSchema(PageArgsSchema, PeriodArgsSchema):
    pass


class SummaryArgsSchema(ma.Schema):
    from_ = fields.Date(required=True, data_key="from", attribute="from")
    to = fields.Date(required=True)


class CriterionSummarySchema(ma.Schema):
    id = fields.String()
    label = fields.String()
    max = fields.Integer()
    reviews = fields.Integer(metadata={"description": "Reviews that scored this criterion."})
    average = fields.Float(allow_none=True, metadata={"description": "Mean score, in the criterion's own units."})
    average_pct = fields.Float(allow_none=True, metadata={"description": "Mean score as a percentage of max."})


class ReviewSummarySchema(ma.Schema):
    reviews = fields.Integer()
    score_avg = fields.Float(allow_none=True)
    criteria = fields.List(fields.Nested(CriterionSummarySchema))
