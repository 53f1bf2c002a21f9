from __future__ import annotations

import re
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import marshmallow as ma
from marshmallow import fields, validate

from app.core.vocabulary import LanguageTag

from app.helplines.settings import CHANNELS, WEEKDAYS

_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$")


def validate_timezone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ma.ValidationError("Unknown timezone; use an IANA name such as Europe/London.") from None


class OperatingHoursField(fields.Field):
    """{"default"|"<channel>": {"mon".."sun": [["08:00", "20:00"], ...]}} or null."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict):
            raise ma.ValidationError("Expected an object keyed by 'default' or a channel.")
        errors: dict = {}
        for scope, week in value.items():
            if scope != "default" and scope not in CHANNELS:
                errors[scope] = ["Use 'default' or one of: " + ", ".join(CHANNELS) + "."]
                continue
            if not isinstance(week, dict):
                errors[scope] = ["Expected an object keyed by weekday (mon..sun)."]
                continue
            for day, windows in week.items():
                problem = self._check_day(day, windows)
                if problem:
                    errors.setdefault(scope, {})[day] = [problem]
        if errors:
            raise ma.ValidationError(errors)
        return value

    @staticmethod
    def _check_day(day, windows) -> str | None:
        if day not in WEEKDAYS:
            return "Weekdays are mon, tue, wed, thu, fri, sat, sun."
        if not isinstance(windows, list):
            return "Expected a list of [open, close] pairs."
        for window in windows:
            if (
                not isinstance(window, list) or len(window) != 2
                or not all(isinstance(t, str) and _TIME.match(t) for t in window)
            ):
                return 'Each window is ["HH:MM", "HH:MM"] (24-hour; "24:00" closes at midnight).'
            if window[0] >= window[1]:
                return "A window must open before it closes."
        return None


class HolidaysField(fields.Dict):
    def __init__(self, **kwargs):
        super().__init__(keys=fields.String(), values=fields.String(validate=validate.Length(1, 200)), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        result = super()._deserialize(value, attr, data, **kwargs)
        bad = {}
        for day in result:
            try:
                date.fromisoformat(day)
                if len(day) != 10:
                    raise ValueError
            except ValueError:
                bad[day] = ["Holiday keys are dates, YYYY-MM-DD."]
        if bad:
            raise ma.ValidationError(bad)
        return result


def _has_position_placeholder(text: str) -> None:
    if "{position}" not in text:
        raise ma.ValidationError("The text must contain {position}.")


class MessagesSchema(ma.Schema):
    closed = fields.String(validate=validate.Length(1, 1600))
    holiday = fields.String(validate=validate.Length(1, 1600))
    blocked = fields.String(validate=validate.Length(1, 1600))
    queued = fields.String(validate=validate.Length(1, 1600))
    abandoned = fields.String(validate=validate.Length(1, 1600))
    goodbye = fields.String(validate=validate.Length(1, 1600))
    queue_position = fields.String(validate=[validate.Length(1, 1600), _has_position_placeholder])


class LocalisedTextField(fields.Field):
    """A text, or {"<language>": text, ...}."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and 0 < len(value) <= 1600:
            return value
        if isinstance(value, dict) and value and all(
            isinstance(k, str) and 2 <= len(k) <= 16 and isinstance(v, str) and 0 < len(v) <= 1600
            for k, v in value.items()
        ):
            return value
        raise ma.ValidationError('A text, or {"<language>": text, ...} (1 to 1600 characters each).')


class PreSurveyQuestionSchema(ma.Schema):
    key = fields.String(required=True, validate=validate.OneOf(("about_self", "age", "gender")))
    prompt = LocalisedTextField(required=True)
    # Extra words accepted per answer, in any language: {"girl": ["msichana"], "skip": ["ruka"]}.
    answers = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 32)),
        values=fields.List(fields.String(validate=validate.Length(1, 100)), validate=validate.Length(max=50)),
    )


class PreSurveySchema(ma.Schema):
    enabled = fields.Boolean(required=True)
    # Empty: the built-in English questions (about yourself, age, gender).
    questions = fields.List(fields.Nested(PreSurveyQuestionSchema), load_default=list, validate=validate.Length(max=10))


class PostSurveyQuestionSchema(ma.Schema):
    id = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z][a-z0-9_]{0,31}$", error="An id is lower-case letters, digits and _, at most 32."))
    type = fields.String(required=True, validate=validate.OneOf(("scale", "yes_no", "free")),
                         metadata={"description": "scale: 1 to 5; yes_no; free: any text (encrypted, never counted)."})
    prompt = LocalisedTextField(required=True)


def _unique_question_ids(questions) -> None:
    ids = [q["id"] for q in questions]
    if len(ids) != len(set(ids)):
        raise ma.ValidationError("Question ids must be unique.")


class PostSurveySchema(ma.Schema):
    enabled = fields.Boolean(required=True)
    # Empty: the built-in English questions (helpful 1-5, would return, a comment).
    questions = fields.List(fields.Nested(PostSurveyQuestionSchema), load_default=list,
                            validate=[validate.Length(max=10), _unique_question_ids])
    thanks = LocalisedTextField(metadata={"description": "Sent when the last question is answered."})
    timeout_min = fields.Integer(strict=True, validate=validate.Range(1, 24 * 60),
                                 metadata={"description": "Minutes without an answer that close the survey (30)."})


def validate_age_bands(bands) -> None:
    previous_high = -1
    for low, high in bands:
        if not (0 <= low <= high <= 25):
            raise ma.ValidationError("Each band is [low, high] with 0 <= low <= high <= 25.")
        if low <= previous_high:
            raise ma.ValidationError("Bands must be in order and must not overlap.")
        previous_high = high


class SettingsSchema(ma.Schema):
    """Every key is optional: a PATCH gives only the keys it replaces."""

    operating_hours = OperatingHoursField(allow_none=True)
    holidays = HolidaysField()
    messages = fields.Nested(MessagesSchema)
    pre_survey = fields.Nested(PreSurveySchema)
    post_survey = fields.Nested(PostSurveySchema)
    risk_phrases = fields.List(fields.String(validate=validate.Length(1, 200)), validate=validate.Length(max=500))
    queue_timeout_min = fields.Integer(strict=True, validate=validate.Range(1, 24 * 60))
    retention_days = fields.Integer(strict=True, validate=validate.Range(30, 36500))
    min_cell = fields.Integer(strict=True, validate=validate.Range(min=3, error="min_cell is at least 3."))
    age_bands = fields.List(
        fields.List(fields.Integer(strict=True), validate=validate.Length(equal=2)),
        validate=[validate.Length(1, 26), validate_age_bands],
    )
    webchat_origins = fields.List(
        fields.String(validate=validate.Regexp(_ORIGIN, error="An origin is scheme://host[:port], no path.")),
        validate=validate.Length(max=50),
    )
    default_language = LanguageTag()
    regions = fields.List(
        fields.String(validate=validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,15}$",
                                               error="A region is a code: lower-case letters, digits, - and _, "
                                                     "at most 16.")),
        validate=validate.Length(max=500),
        metadata={"description": "Codes child.region may take; statistics publish only these (and unknown)."},
    )
    queue_position_notice = fields.Boolean()
    webchat_exit_url = fields.Url(
        schemes={"http", "https"}, require_tld=False, validate=validate.Length(max=2000),
        metadata={"description": "Absolute http(s) URL of a neutral page the web chat's quick exit replaces "
                                 "the chat with (default: a search engine's home page)."})


class HelplineSchema(ma.Schema):
    id = fields.String(dump_only=True)
    code = fields.String(dump_only=True)
    name = fields.String()
    timezone = fields.String()
    twilio_account_sid = fields.String(allow_none=True)
    twilio_auth_token_set = fields.Boolean(
        dump_only=True, metadata={"description": "Whether an auth token is stored; the token itself is never returned."}
    )
    settings = fields.Dict()
    taxonomy_version = fields.String(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class HelplinePatchSchema(ma.Schema):
    name = fields.String(validate=validate.Length(1, 200))
    timezone = fields.String(validate=validate_timezone)
    twilio_account_sid = fields.String(
        allow_none=True, validate=validate.Regexp(r"^AC[0-9a-fA-F]{32}$", error="A Twilio account sid is AC and 32 hex digits.")
    )
    twilio_auth_token = fields.String(
        load_only=True, allow_none=True, validate=validate.Length(8, 128),
        metadata={"description": "Write-only: stored encrypted, never returned."},
    )
    settings = fields.Nested(SettingsSchema)
