from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from webargs.fields import DelimitedList

from app.core.pagination import PageSchema
from app.stats.dimensions import CONTACT_DIMENSIONS
from app.stats.models import PERIODS

FORMATS = ("json", "csv", "xlsx")
REPORTS = ("contacts", "operations")
OPERATION_DIMENSIONS = ("day", "week", "month", "queue", "channel")


class StatsArgsSchema(ma.Schema):
    from_ = fields.Date(required=True, data_key="from", attribute="from")
    to = fields.Date(required=True)
    format = fields.String(load_default="json", validate=validate.OneOf(FORMATS))


class ContactStatsArgsSchema(StatsArgsSchema):
    by = DelimitedList(fields.String(validate=validate.OneOf(CONTACT_DIMENSIONS)), required=True,
                       validate=validate.Length(1, 4),
                       metadata={"description": "Up to 4 dimensions, comma-separated: by=month,gender."})


class OperationsStatsArgsSchema(StatsArgsSchema):
    by = DelimitedList(fields.String(validate=validate.OneOf(OPERATION_DIMENSIONS)), required=True,
                       validate=validate.Length(1, 3),
                       metadata={"description": "day, week or month, then optionally queue and/or channel."})


class ScheduleParamsSchema(ma.Schema):
    by = fields.String(required=True, validate=validate.Length(1, 200))
    period = fields.String(load_default="previous_month", validate=validate.OneOf(PERIODS),
                           metadata={"description": "The whole period before each run the export covers."})


class ScheduleCreateSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(1, 200))
    report = fields.String(required=True, validate=validate.OneOf(REPORTS))
    params = fields.Nested(ScheduleParamsSchema, required=True)
    cron = fields.String(required=True, validate=validate.Length(1, 100),
                         metadata={"description": "Crontab, in the helpline's timezone: '0 6 1 * *' is 06:00 on the 1st."})
    format = fields.String(load_default="csv", validate=validate.OneOf(FORMATS))
    deliver_to = fields.Url(schemes={"https"}, require_tld=False, load_default=None, allow_none=True,
                            metadata={"description": "HTTPS URL; each file is POSTed with X-Signature: sha256=<HMAC>."})


class ScheduleSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    report = fields.String()
    params = fields.Dict()
    cron = fields.String()
    format = fields.String()
    deliver_to = fields.String(allow_none=True)
    created_at = fields.DateTime()
    next_run_at = fields.DateTime()
    last_run_at = fields.DateTime(allow_none=True)


class ScheduleCreatedSchema(ScheduleSchema):
    signing_secret = fields.String(metadata={"description": "The HMAC key for X-Signature; shown only now."})


class ScheduleListSchema(PageSchema):
    items = fields.List(fields.Nested(ScheduleSchema))


class ExportSchema(ma.Schema):
    id = fields.String()
    schedule_id = fields.String(allow_none=True)
    report = fields.String()
    params = fields.Dict()
    format = fields.String()
    filename = fields.String()
    size = fields.Integer()
    created_at = fields.DateTime()
    delivery_status = fields.String()
    delivery_attempts = fields.Integer()
    delivery_error = fields.String(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


class ExportPageSchema(PageSchema):
    items = fields.List(fields.Nested(ExportSchema))


class ExportListArgsSchema(ma.Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 500))
    cursor = fields.String(load_default=None)
