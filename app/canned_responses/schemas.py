import marshmallow as ma
from marshmallow import fields, validate

from app.canned_responses.models import SCOPES
from app.core.pagination import PageArgsSchema, PageSchema
from app.core.vocabulary import LanguageTag

PLACEHOLDERS = ("{counsellor_name}", "{helpline_name}")
# Shared by create and patch: the same field rules either way.
TITLE = validate.Length(1, 200)
TEXT = validate.Length(1, 4000)
SHORTCUT = validate.Regexp(r"^[\w\-/.]{1,40}$", error="1 to 40 letters, digits, - _ / .")


class CannedResponseBodySchema(ma.Schema):
    title = fields.String(required=True, validate=TITLE)
    text = fields.String(required=True, validate=TEXT, metadata={
        "description": "May hold the placeholders " + " and ".join(PLACEHOLDERS) + ", filled in with `?render=1`."})
    language = LanguageTag(load_default=None, allow_none=True)
    shortcut = fields.String(load_default=None, allow_none=True, validate=SHORTCUT)
    scope = fields.String(load_default="personal", validate=validate.OneOf(SCOPES), metadata={
        "description": "`helpline`: everyone's, kept by supervisors and admins. `personal`: seen only by its owner."})


class CannedResponsePatchSchema(ma.Schema):
    """The fields given change; `scope` cannot (422)."""
    title = fields.String(validate=TITLE)
    text = fields.String(validate=TEXT)
    language = LanguageTag(allow_none=True)
    shortcut = fields.String(allow_none=True, validate=SHORTCUT)
    scope = fields.String(validate=validate.OneOf(SCOPES))


class RenderArgsSchema(ma.Schema):
    render = fields.Boolean(load_default=False, metadata={
        "description": "1: `text` with {counsellor_name} (yours) and {helpline_name} filled in."})


class CannedResponseListArgsSchema(PageArgsSchema, RenderArgsSchema):
    q = fields.String(load_default=None, validate=validate.Length(1, 200),
                      metadata={"description": "Words found in the title or the shortcut (case-insensitive)."})
    language = LanguageTag(load_default=None)
    scope = fields.String(load_default=None, validate=validate.OneOf(SCOPES))


class CannedResponseSchema(ma.Schema):
    id = fields.String()
    scope = fields.String()
    owner_id = fields.String(allow_none=True)
    title = fields.String()
    text = fields.String()
    shortcut = fields.String(allow_none=True)
    language = fields.String(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CannedResponsePageSchema(PageSchema):
    items = fields.List(fields.Nested(CannedResponseSchema))
