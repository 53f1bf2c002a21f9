from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.core.vocabulary import LanguageTag

from app.contacts.models import CHANNELS
from app.core.pagination import PageSchema


class QueueSchema(ma.Schema):
    id = fields.String(dump_only=True)
    name = fields.String(required=True, validate=validate.Length(1, 100))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=list,
                           metadata={"description": "Channels this queue takes; empty takes any."})
    languages = fields.List(LanguageTag(), load_default=list,
                            metadata={"description": "Languages this queue takes; empty takes any."})
    priority = fields.Integer(strict=True, load_default=0, validate=validate.Range(-1000, 1000),
                              metadata={"description": "Higher first, when a contact fits several queues."})
    offer_timeout_s = fields.Integer(strict=True, load_default=30, validate=validate.Range(5, 3600))
    created_at = fields.DateTime(dump_only=True)


class QueuePatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(1, 100))
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)))
    languages = fields.List(LanguageTag())
    priority = fields.Integer(strict=True, validate=validate.Range(-1000, 1000))
    offer_timeout_s = fields.Integer(strict=True, validate=validate.Range(5, 3600))


class QueueListSchema(PageSchema):
    items = fields.List(fields.Nested(QueueSchema))


class QueueStatusSchema(ma.Schema):
    queue_id = fields.String()
    waiting = fields.Integer()
    longest_wait_s = fields.Integer()
    offered = fields.Integer()
    active = fields.Integer()
    counsellors_available = fields.Integer()


class QueueStatusListSchema(ma.Schema):
    items = fields.List(fields.Nested(QueueStatusSchema))


class AvailabilitySchema(ma.Schema):
    status = fields.String(required=True, validate=validate.OneOf(("available", "break", "offline")))


class TransferSchema(ma.Schema):
    queue_id = fields.String(validate=validate.Length(1, 36))
    counsellor_id = fields.String(validate=validate.Length(1, 36))
    note = fields.String(load_default=None, validate=validate.Length(max=2000))

    @ma.validates_schema
    def _one_target(self, data, **kwargs):
        if ("queue_id" in data) == ("counsellor_id" in data):
            raise ma.ValidationError("Give exactly one of queue_id and counsellor_id.", "queue_id")


class AssignSchema(ma.Schema):
    counsellor_id = fields.String(required=True, validate=validate.Length(1, 36))
