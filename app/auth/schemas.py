from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.core.vocabulary import LanguageTag

from app.auth.models import AVAILABILITY, ROLES
from app.core.pagination import PageArgsSchema, PageSchema
from app.helplines.settings import CHANNELS

capacity_field = fields.Dict(
    keys=fields.String(validate=validate.OneOf((*CHANNELS, "total"))),
    values=fields.Integer(strict=True, validate=validate.Range(0, 50)),
    metadata={"description": 'Contacts at once per channel, and in total: {"sms": 3, "chat": 3, "total": 4}. '
              "A channel not named has capacity 1."},
)


class SkillsSchema(ma.Schema):
    languages = fields.List(LanguageTag(), validate=validate.Length(max=50))
    queues = fields.List(fields.String(validate=validate.Length(1, 36)), validate=validate.Length(max=100))


class PasswordChangeSchema(ma.Schema):
    current_password = fields.String(required=True, load_only=True, validate=validate.Length(1, 1024))
    new_password = fields.String(required=True, load_only=True, validate=validate.Length(12, 1024),
                                 metadata={"description": "At least 12 characters, zxcvbn score 3 or more."})


class LoginSchema(ma.Schema):
    email = fields.String(required=True, validate=validate.Length(1, 254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(1, 1024))


class HelplineRefSchema(ma.Schema):
    id = fields.String()
    code = fields.String()
    name = fields.String()


class UserSchema(ma.Schema):
    id = fields.String()
    helpline_id = fields.String()
    email = fields.String()
    name = fields.String()
    role = fields.String(metadata={"enum": list(ROLES)})
    active = fields.Boolean()
    availability = fields.String(metadata={"enum": list(AVAILABILITY)})
    capacity = fields.Dict()
    skills = fields.Dict()
    must_change_password = fields.Boolean()
    created_at = fields.DateTime()


class MeSchema(UserSchema):
    helpline = fields.Nested(HelplineRefSchema)


class LoginResponseSchema(ma.Schema):
    token = fields.String()
    expires_at = fields.DateTime()
    user = fields.Nested(UserSchema)


class UserCreateSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    name = fields.String(load_default="", validate=validate.Length(max=200))
    password = fields.String(load_only=True, validate=validate.Length(12, 1024), metadata={
        "description": "One-time: at least 12 characters and hard to guess (zxcvbn score 3); "
                       "the user must change it (POST /api/v1/me/password) before anything else."})
    capacity = capacity_field
    skills = fields.Nested(SkillsSchema)


class UserPatchSchema(ma.Schema):
    email = fields.Email(validate=validate.Length(max=254))
    role = fields.String(validate=validate.OneOf(ROLES))
    name = fields.String(validate=validate.Length(max=200))
    password = fields.String(load_only=True, validate=validate.Length(12, 1024), metadata={
        "description": "One-time, as on creation; the user's tokens are revoked."})
    active = fields.Boolean()
    capacity = capacity_field
    skills = fields.Nested(SkillsSchema)


class UserListArgsSchema(PageArgsSchema):
    role = fields.String(validate=validate.OneOf(ROLES))


class UserPageSchema(PageSchema):
    items = fields.List(fields.Nested(UserSchema))
