"""Channel endpoints: Twilio webhooks (form-encoded, signed) and the web chat (JSON, session tokens)."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from flask import Response, current_app, g, request, send_file, url_for
from flask_smorest import Blueprint
from markupsafe import escape
from twilio.request_validator import get_signature_algorithm

from app.channels import spool, webchat
from app.channels.twilio_signature import FORM, signature_valid, signed_url, twiml
from app.channels.schemas import (
    TwilioConversationsSchema, TwilioMessagingSchema, TwilioStatusSchema, WebchatConfigArgsSchema, WebchatConfigSchema,
    WebchatEndSchema, WebchatMessageCreateSchema, WebchatMessageSchema, WebchatPollArgsSchema, WebchatPollSchema,
    WebchatPostSurveyAnswersSchema, WebchatPostSurveyDoneSchema, WebchatPostSurveySchema, WebchatSessionCreateSchema,
    WebchatSessionSchema,
)
from app.core.errors import DomainError, Forbidden, NotFound, error_response
from app.extensions import db, limiter
from app.channels.models import WebchatSession
from app.helplines.models import Helpline
from app.helplines.service import HelplineConfig, helpline_config
from app.live.schemas import parse_last_event_id
from app.live.streams import open_visitor_stream
from app.live.views import relay, streams_full

webhooks_blp = Blueprint(
    "webhooks", __name__, url_prefix="/webhooks",
    description="Twilio webhooks, form-encoded and signed with the helpline's auth token (X-Twilio-Signature).",
)
webchat_blp = Blueprint(
    "webchat", __name__, url_prefix="/webchat",
    description="The helpline's own web chat. Session routes take `Authorization: Bearer <session token>`.",
)

# --- Twilio ------------------------------------------------------------------------

def _signed_url() -> str:
    """The URL Twilio signed: PUBLIC_BASE_URL (behind a proxy) or our own, plus path and query."""
    base = current_app.config.get("PUBLIC_BASE_URL") or request.host_url.rstrip("/")
    return signed_url(base, request.path, request.query_string.decode("latin-1"))


@webhooks_blp.before_request
def _verify_twilio_request():
    """404 unknown helpline, 415 not a form, 403 bad signature or another account: before anything is read or stored."""
    helpline = helpline_config(request.view_args.get("helpline_code", "")) if request.view_args else None
    if helpline is None:
        raise NotFound("No such helpline.")
    if request.mimetype != FORM:
        return error_response(415, "unsupported_media_type", f"Twilio webhooks are {FORM}.")
    if not (helpline.twilio_auth_token and helpline.twilio_account_sid):
        raise Forbidden("This helpline has no Twilio credentials configured.", code="not_configured")
    algorithm = get_signature_algorithm(request.headers.get("X-Twilio-Webhooks-Signature-Settings"))
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature_valid(helpline.twilio_auth_token, _signed_url(), request.form, signature, algorithm):
        raise Forbidden("The Twilio signature is missing or wrong.", code="bad_signature")
    if request.form.get("AccountSid") != helpline.twilio_account_sid:
        raise Forbidden("The request is for another Twilio account.", code="wrong_account")
    g.helpline = helpline
    return None


def _twiml(replies: list[str]) -> Response:
    return Response(twiml(replies), mimetype="text/xml")


@webhooks_blp.route("/<helpline_code>/twilio/messaging", methods=["POST"])
@webhooks_blp.arguments(TwilioMessagingSchema(), location="form")
@webhooks_blp.doc(security=[], responses={200: {"description": "TwiML: <Response/>, or with <Message> automatic replies",
                                               "content": {"text/xml": {}}}})
def twilio_messaging(fields, helpline_code):
    """An SMS or WhatsApp message. Stored (once per MessageSid) before the 200 goes out."""
    return _twiml(spool.twiml_replies(spool.accept_webhook(spool.MESSAGING, g.helpline, fields)))


@webhooks_blp.route("/<helpline_code>/twilio/status", methods=["POST"])
@webhooks_blp.arguments(TwilioStatusSchema(), location="form")
@webhooks_blp.doc(security=[], responses={200: {"description": "Empty TwiML", "content": {"text/xml": {}}}})
def twilio_status(fields, helpline_code):
    """A delivery callback for one of our outbound messages."""
    spool.accept_webhook(spool.STATUS, g.helpline, fields)
    return _twiml([])


@webhooks_blp.route("/<helpline_code>/twilio/conversations", methods=["POST"])
@webhooks_blp.arguments(TwilioConversationsSchema(), location="form")
@webhooks_blp.doc(security=[], responses={200: {"description": "Empty; replies go out through the Conversations API"}})
def twilio_conversations(fields, helpline_code):
    """Conversations post-event webhook. onMessageAdded from a child is stored; our own echoes and other events are ignored."""
    spool.accept_webhook(spool.CONVERSATIONS, g.helpline, fields)  # other events are ignored there
    return Response("", status=200)


# --- Web chat ----------------------------------------------------------------------

def _helpline_or_404(code: str) -> HelplineConfig:
    helpline = helpline_config(code)
    if helpline is None:
        raise NotFound("No such helpline.")
    return helpline


def _bearer() -> str | None:
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    return raw.strip() if scheme.lower() == "bearer" else None


def _webchat_helpline() -> HelplineConfig | None:
    if g.get("webchat_helpline") is not None:
        return g.webchat_helpline
    args = request.view_args or {}
    if "helpline_code" in args:
        return helpline_config(args["helpline_code"])
    if "session_id" in args:
        code = db.session.scalar(
            sa.select(Helpline.code).join(WebchatSession, WebchatSession.helpline_id == Helpline.id)
            .where(WebchatSession.id == args["session_id"])
        )
        return helpline_config(code) if code else None
    return None


@webchat_blp.after_request
def _cors(response):
    """CORS for the origins the helpline lists in settings.webchat_origins; others get no CORS headers."""
    origin = request.headers.get("Origin")
    if not origin:
        return response
    try:
        helpline = _webchat_helpline()
    except DomainError:
        helpline = None
    if helpline is not None and origin in helpline.settings["webchat_origins"]:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, Last-Event-ID"
        response.headers["Access-Control-Max-Age"] = "600"
        response.headers.add("Vary", "Origin")
    return response


def _session_limit():
    return current_app.config["WEBCHAT_SESSION_RATE_LIMIT"]


def _message_limit():
    return current_app.config["WEBCHAT_MESSAGE_RATE_LIMIT"]


@webchat_blp.route("/<helpline_code>/sessions", methods=["POST"])
@limiter.limit(_session_limit, exempt_when=lambda: request.method == "OPTIONS")
@webchat_blp.arguments(WebchatSessionCreateSchema)
@webchat_blp.response(201, WebchatSessionSchema)
@webchat_blp.doc(security=[])
def create_session(args, helpline_code):
    """Start a chat. Out of hours the status is `closed` and `message` is the helpline's closed message."""
    helpline = _helpline_or_404(helpline_code)
    g.webchat_helpline = helpline
    return webchat.create_session(helpline, args["language"], args["pre_survey"])


WIDGET_JS = Path(__file__).parent / "static" / "widget.js"
# A day: a fixed widget reaches every visitor within one; revalidation by ETag costs a 304.
WIDGET_MAX_AGE_S = 86400
# The widget's page: its own script only, no inline script or style, nothing from elsewhere.
PAGE_CSP = ("default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PAGE = """<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>{name}</title>
<script src="{script}" data-helpline="{code}" data-mode="page"{stream} defer></script>
</head>
<body>
<noscript>{name}: this chat needs JavaScript.</noscript>
</body>
</html>
"""


@webchat_blp.route("/widget.js", methods=["GET"])
@webchat_blp.response(200, content_type="text/javascript",
                      description="The widget: one plain script, cached a day, with an ETag (304 when unchanged).")
@webchat_blp.doc(security=[])
def widget_js():
    """The web chat widget. Embed: `<script src="https://HOST/webchat/widget.js" data-helpline="CODE" async>`;
    options `data-language`, `data-position` (right|left), `data-open` (true: start open), `data-stream`
    (off: poll only)."""
    response = send_file(WIDGET_JS, mimetype="text/javascript", max_age=WIDGET_MAX_AGE_S, etag=True,
                         conditional=True)
    response.cache_control.public = True
    return response


@webchat_blp.route("/<helpline_code>/", methods=["GET"])
@webchat_blp.response(200, content_type="text/html", description="The chat, full screen.")
@webchat_blp.doc(security=[])
def widget_page(helpline_code):
    """A page hosting the widget full screen, in the helpline's name (for links in SMS and QR codes).
    No inline script, no cookies, no referrer. `?stream=off`: the widget polls instead of streaming
    (for networks whose proxies break long responses)."""
    helpline = _helpline_or_404(helpline_code)
    html = PAGE.format(language=escape(helpline.settings["default_language"]), name=escape(webchat.helpline_name(helpline)),
                       script=escape(url_for("webchat.widget_js")), code=escape(helpline.code),
                       stream=' data-stream="off"' if request.args.get("stream") == "off" else "")
    return Response(html, mimetype="text/html", headers={
        "Content-Security-Policy": PAGE_CSP, "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"})


@webchat_blp.route("/<helpline_code>/config", methods=["GET"])
@webchat_blp.arguments(WebchatConfigArgsSchema, location="query")
@webchat_blp.response(200, WebchatConfigSchema)
@webchat_blp.doc(security=[])
def widget_config(args, helpline_code):
    """What the widget shows before a chat: name, open or closed (with the message), the pre-survey's
    questions, the quick exit address and the helpline's own texts."""
    helpline = _helpline_or_404(helpline_code)
    g.webchat_helpline = helpline
    return webchat.widget_config(helpline, args["language"])


@webchat_blp.route("/sessions/<session_id>/messages", methods=["POST"])
@limiter.limit(_message_limit, exempt_when=lambda: request.method == "OPTIONS")
@webchat_blp.arguments(WebchatMessageCreateSchema)
@webchat_blp.response(201, WebchatMessageSchema)
@webchat_blp.doc(security=[])
def post_message(args, session_id):
    """Send the visitor's message; the same client_message_id twice stores one message."""
    session = webchat.authenticate(session_id, _bearer())
    return webchat.post_message(session, args["text"], args["client_message_id"])


@webchat_blp.route("/sessions/<session_id>/messages", methods=["GET"])
@limiter.limit(_message_limit)
@webchat_blp.arguments(WebchatPollArgsSchema, location="query")
@webchat_blp.response(200, WebchatPollSchema)
@webchat_blp.doc(security=[])
def list_messages(args, session_id):
    """The session's messages after `after` (a seq), and its status."""
    session = webchat.authenticate(session_id, _bearer())
    return webchat.list_messages(session, args["after"])


@webchat_blp.route("/sessions/<session_id>/events", methods=["GET"])
@webchat_blp.response(200, content_type="text/event-stream",
                      description="`message` frames (`id:` = seq) and `status` frames, a `: ping` every 15 s.")
@webchat_blp.doc(security=[])
def session_events(session_id):
    """The visitor's live stream (Authorization: Bearer <session token>). `Last-Event-ID: <seq>` replays
    the messages after it. Once the chat has ended and all is sent the stream closes; a reconnect then
    gets 204, which tells EventSource to stop."""
    session = webchat.authenticate(session_id, _bearer())
    after = parse_last_event_id(request.headers.get("Last-Event-ID"), None) or 0
    if webchat.finished_for(session, after):
        return Response(status=204)
    if not relay().admit():
        return streams_full()
    try:
        return open_visitor_stream(current_app._get_current_object(), relay(), session.id, session.contact_id, after)
    except BaseException:
        relay().release()  # no response: nothing else will give the place back
        raise


@webchat_blp.route("/sessions/<session_id>/end", methods=["POST"])
@webchat_blp.response(200, WebchatEndSchema)
@webchat_blp.doc(security=[])
def end_session(session_id):
    """End the chat: a contact still waiting is abandoned; a conversation goes to wrap-up."""
    session = webchat.authenticate(session_id, _bearer())
    return webchat.end_session(session)


@webchat_blp.route("/sessions/<session_id>/post-survey", methods=["GET"])
@webchat_blp.response(200, WebchatPostSurveySchema)
@webchat_blp.alt_response(409, description="`no_post_survey`: none is open (not enabled, the visitor left, "
                                           "already answered or timed out).")
@webchat_blp.doc(security=[])
def post_survey_questions(session_id):
    """After the counsellor ended the chat: the helpline's post-contact survey, for the widget's form."""
    session = webchat.authenticate(session_id, _bearer())
    return webchat.post_survey_questions(session)


@webchat_blp.route("/sessions/<session_id>/post-survey", methods=["POST"])
@limiter.limit(_message_limit)
@webchat_blp.arguments(WebchatPostSurveyAnswersSchema)
@webchat_blp.response(200, WebchatPostSurveyDoneSchema)
@webchat_blp.alt_response(409, description="`no_post_survey`: none is open, or it was already answered.")
@webchat_blp.doc(security=[])
def answer_post_survey(args, session_id):
    """The survey's answers, all at once; every question is skippable. Once only."""
    session = webchat.authenticate(session_id, _bearer())
    return webchat.answer_post_survey(session, args["answers"])
