"""What the channel webhooks and the web chat accept."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from app.contacts.models import MAX_TEXT
from app.core.http import CONTROL_IN_TEXT
from app.core.vocabulary import LanguageTag

class ChannelText(fields.String):
    """A message body from a provider: control characters other than tab and line breaks are dropped, not
    refused, so a child's message is never lost for what their phone put in it (PostgreSQL refuses NUL)."""

    def _deserialize(self, value, attr, data, **kwargs):
        return CONTROL_IN_TEXT.sub("", super()._deserialize(value, attr, data, **kwargs))


_NO_CONTROL = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="Control characters are not allowed.")

_SID = validate.Regexp(r"^[A-Z]{2}[0-9a-fA-F]{32}$", error="Not a Twilio sid.")


class TwilioMessagingSchema(ma.Schema):
    """Twilio's Messaging webhook; Twilio's other fields are accepted and ignored."""

    class Meta:
        unknown = ma.EXCLUDE

    MessageSid = fields.String(required=True, validate=_SID)
    AccountSid = fields.String(required=True, validate=_SID)
    From = fields.String(required=True, validate=[validate.Length(1, 200), _NO_CONTROL])
    To = fields.String(required=True, validate=[validate.Length(1, 64), _NO_CONTROL])
    Body = ChannelText(load_default="", validate=validate.Length(max=MAX_TEXT))
    NumMedia = fields.Integer(load_default=0, validate=validate.Range(0, 100))


class TwilioStatusSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    MessageSid = fields.String(required=True, validate=_SID)
    AccountSid = fields.String(required=True, validate=_SID)
    MessageStatus = fields.String(required=True, validate=[validate.Length(1, 32), _NO_CONTROL])
    ErrorCode = fields.String(load_default=None, validate=[validate.Length(max=32), _NO_CONTROL])


class TwilioConversationsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    EventType = fields.String(required=True, validate=[validate.Length(1, 64), _NO_CONTROL])
    AccountSid = fields.String(required=True, validate=_SID)
    ConversationSid = fields.String(load_default=None, validate=_SID)
    MessageSid = fields.String(load_default=None, validate=_SID)
    Author = fields.String(load_default=None, validate=[validate.Length(1, 200), _NO_CONTROL])
    Body = ChannelText(load_default="", validate=validate.Length(max=MAX_TEXT))
    Source = fields.String(load_default=None, validate=[validate.Length(max=32), _NO_CONTROL])
    MediaCount = fields.Integer(load_default=0, validate=validate.Range(0, 100))

    @ma.validates_schema
    def _message_fields(self, data, **kwargs):
        if data["EventType"] == "onMessageAdded":
            missing = [k for k in ("ConversationSid", "MessageSid", "Author") if not data.get(k)]
            if missing:
                raise ma.ValidationError({k: ["Required for onMessageAdded."] for k in missing})


class PreSurveyAnswersSchema(ma.Schema):
    about_self = fields.Boolean(allow_none=True)
    age = fields.Integer(strict=True, allow_none=True, validate=validate.Range(0, 25))
    gender = fields.String(validate=validate.OneOf(("girl", "boy", "non_binary", "unknown")))


class WebchatSessionCreateSchema(ma.Schema):
    language = LanguageTag(load_default=None)
    pre_survey = fields.Nested(PreSurveyAnswersSchema, load_default=None)


class WebchatSessionSchema(ma.Schema):
    session_id = fields.String()
    token = fields.String(metadata={"description": "Bearer token for this session only; shown once."})
    status = fields.String(metadata={"enum": ["bot", "queued", "active", "ended", "closed"]})
    message = fields.String()


class WebchatMessageCreateSchema(ma.Schema):
    text = fields.String(required=True, validate=validate.Length(1, MAX_TEXT))
    client_message_id = fields.String(load_default=None, validate=validate.Length(1, 100))


class WebchatMessageSchema(ma.Schema):
    seq = fields.Integer()
    from_ = fields.String(data_key="from", attribute="from", metadata={"enum": ["visitor", "counsellor", "system"]})
    text = fields.String()
    sent_at = fields.DateTime()


class WebchatPollArgsSchema(ma.Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(min=0))


class WebchatPollSchema(ma.Schema):
    status = fields.String()
    items = fields.List(fields.Nested(WebchatMessageSchema))


class WebchatEndSchema(ma.Schema):
    status = fields.String()


class WebchatPostSurveyQuestionSchema(ma.Schema):
    id = fields.String()
    type = fields.String(metadata={"enum": ["scale", "yes_no", "free"]})
    prompt = fields.String()


class WebchatPostSurveySchema(ma.Schema):
    questions = fields.List(fields.Nested(WebchatPostSurveyQuestionSchema))


class WebchatPostSurveyAnswersSchema(ma.Schema):
    answers = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 32)), values=fields.Raw(allow_none=True), required=True,
        validate=validate.Length(max=10),
        metadata={"description": "By question id: scale 1-5, yes_no true/false, free a text (at most 2000); "
                                 "null or left out: skipped."})


class WebchatPostSurveyDoneSchema(ma.Schema):
    status = fields.String(metadata={"enum": ["answered"]})
    message = fields.String(metadata={"description": "The helpline's thanks, in the chat's language."})


class WebchatConfigArgsSchema(ma.Schema):
    language = LanguageTag(load_default=None)


class WebchatConfigSchema(ma.Schema):
    helpline = fields.Dict(metadata={"description": '{"code", "name"}'})
    language = fields.String()
    open = fields.Boolean(metadata={"description": "False out of hours and on holidays: the widget opens no session."})
    message = fields.String(metadata={"description": "When closed: the helpline's closed or holiday message."})
    pre_survey = fields.Dict(metadata={"description": '{"enabled", "questions": [{"key", "prompt"}]}; '
                                                      'keys: about_self, age, gender'})
    post_survey = fields.Dict(metadata={"description": '{"enabled"}: whether a post-contact survey follows a chat the '
                                                       'counsellor ends (its questions: GET .../post-survey then).'})
    exit_url = fields.String(metadata={"description": "Where quick exit goes (settings.webchat_exit_url)."})
    messages = fields.Dict(metadata={"description": "The helpline's own closed/holiday/queued/goodbye/abandoned "
                                                     "texts, when it set them; else the widget's own, per language."})
