from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.core.pagination import PageArgsSchema, PageSchema
from app.core.vocabulary import LanguageTag

# Checked against the helpline's taxonomy and regions in the service (they depend on the helpline).
_CODE = fields.String(validate=validate.Length(1, 64))
_REGION = fields.String(validate=validate.Length(1, 16))


class ResourceBodySchema(ma.Schema):
    """Also each row of the CSV import, so both check the same rules."""

    name = fields.String(required=True, validate=validate.Length(1, 300))
    description = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 4000))
    categories = fields.List(_CODE, required=True, validate=validate.Length(1, 50),
                             metadata={"description": "Taxonomy codes (a top-level code covers its sub-categories)."})
    regions = fields.List(_REGION, load_default=list, validate=validate.Length(max=100),
                          metadata={"description": "The helpline's region codes; empty: everywhere."})
    languages = fields.List(LanguageTag(), load_default=list, validate=validate.Length(max=20),
                            metadata={"description": "Language tags; empty: not stated (matches any)."})
    age_min = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(0, 120))
    age_max = fields.Integer(strict=True, load_default=None, allow_none=True, validate=validate.Range(0, 120))
    phone = fields.String(load_default=None, allow_none=True, validate=validate.Regexp(
        r"^[0-9+()\- ]{2,40}$", error="Digits, spaces, + - ( ), at most 40."))
    website = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"},
                         validate=validate.Length(max=2000))
    hours = fields.String(load_default=None, allow_none=True, validate=validate.Length(1, 300))

    @ma.validates_schema
    def _ages_in_order(self, data, **kwargs):
        low, high = data.get("age_min"), data.get("age_max")
        if low is not None and high is not None and low > high:
            raise ma.ValidationError("age_min must not be above age_max.", "age_max")


class ResourcePatchSchema(ResourceBodySchema):
    """The fields given change; nothing is required and no default fills a field left out."""

    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)


class ResourceSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    categories = fields.List(fields.String())
    regions = fields.List(fields.String())
    languages = fields.List(fields.String())
    age_min = fields.Integer(allow_none=True)
    age_max = fields.Integer(allow_none=True)
    phone = fields.String(allow_none=True)
    website = fields.String(allow_none=True)
    hours = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ResourceSearchArgsSchema(PageArgsSchema):
    q = fields.String(load_default=None, validate=validate.Length(1, 200),
                      metadata={"description": "Every word must appear in the name or description (any case)."})
    category = fields.String(load_default=None, validate=validate.Length(1, 64),
                             metadata={"description": "A taxonomy code; a top-level code matches its sub-categories."})
    region = fields.String(load_default=None, validate=validate.Length(1, 16),
                           metadata={"description": "Resources for this region, or for everywhere."})
    language = LanguageTag(load_default=None)
    age = fields.Integer(load_default=None, validate=validate.Range(0, 120),
                         metadata={"description": "Resources whose age range includes it."})


class ResourcePageSchema(PageSchema):
    items = fields.List(fields.Nested(ResourceSchema))
