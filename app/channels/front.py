"""The Twilio webhooks' front: a signed, valid Twilio webhook answered without Flask's request cycle,
exactly as its route would answer it.

Why: a webhook's own work is a signature check and one statement, and Flask's request cycle around
it (the request context, URL routing, the before- and after-request hooks, webargs, the Response
object) was 38% of a webhook's instructions (bench/README.md, 2026-12-08). Webhooks are most of
what a helpline's web tier serves.

What: a WSGI middleware in front of the Flask app (create_app installs it, inside ProxyFix). It
takes a POST to /webhooks/<code>/twilio/messaging, /status or /conversations with a form body of
at most MAX_BODY bytes (and MAX_CONTENT_LENGTH), no query string and no script root, and answers
it itself when the helpline exists and has Twilio credentials, the signature is valid for that
URL, the AccountSid is the helpline's and the route's own schema accepts the fields. Anything
else (an unknown helpline, a bad signature, a malformed field, a large or chunked body...) goes
to the Flask route with the body untouched, and the route gives the contract's error: the front
never answers an error of its own.

Both use one copy of each step: the signature check and TwiML (twilio_signature), the schema, the
intake (spool.accept_webhook, which spools during an outage), publishing committed events, the
request id and log line (core.logging) and the security headers (core.security_headers). An
exception from the intake goes to Flask's own handling, as if the route had raised it, inside
this context: a request that committed nothing is retried after a dropped connection
(HelplineFlask), any other error gets the contract's 500.
"""
from __future__ import annotations

import io
import re
import time
from urllib.parse import parse_qsl

from flask import Flask, g
from twilio.request_validator import get_signature_algorithm
from werkzeug.datastructures import MultiDict
from werkzeug.wsgi import get_current_url

from app.channels import spool
from app.channels.schemas import TwilioConversationsSchema, TwilioMessagingSchema, TwilioStatusSchema
from app.channels.twilio_signature import FORM, signature_valid, signed_url, twiml
from app.core.events import publish_committed
from app.core.logging import REQUEST_ID_HEADER, log_request, request_id_for
from app.core.security_headers import missing_headers
from app.helplines.service import helpline_config

# Twilio's webhooks are a few hundred bytes; a larger body goes to Flask, which applies its limits.
MAX_BODY = 64 * 1024
# The helpline codes the front looks up; any other path segment goes to the route (404 there).
_PATH = re.compile(r"/webhooks/([A-Za-z0-9_-]{1,64})/twilio/(messaging|status|conversations)")
_XML, _HTML = "text/xml; charset=utf-8", "text/html; charset=utf-8"
# Each route's intake kind, schema and answer's content type (the Conversations route answers an
# empty body, which Flask types as HTML).
_ROUTES = {
    "messaging": (spool.MESSAGING, TwilioMessagingSchema(), _XML),
    "status": (spool.STATUS, TwilioStatusSchema(), _XML),
    "conversations": (spool.CONVERSATIONS, TwilioConversationsSchema(), _HTML),
}
# The security headers each answer gets, by (content type, over https): they depend on nothing else.
_PRESENT = frozenset({"content-type", "content-length", REQUEST_ID_HEADER.lower()})
_SECURITY_HEADERS = {(content_type, secure): missing_headers(_PRESENT, content_type, secure)
                     for content_type in (_XML, _HTML) for secure in (False, True)}


class TwilioWebhookFront:
    """WSGI middleware: answers what it can exactly as the route would, hands everything else to `wsgi_app`."""

    def __init__(self, app: Flask, wsgi_app):
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response):
        taken = self._taken(environ, min(MAX_BODY, self.app.config["MAX_CONTENT_LENGTH"] or MAX_BODY))
        if taken is None:
            return self.wsgi_app(environ, start_response)
        code, kind = taken
        length = int(environ["CONTENT_LENGTH"])
        body = environ["wsgi.input"].read(length)
        # Whoever answers, Flask may read the body again.
        environ["wsgi.input"] = io.BytesIO(body)
        if len(body) == length:
            started = time.perf_counter()
            with self.app.app_context():
                accepted = self._accepted(environ, code, kind, body)
                if accepted is not None:
                    return self._answer(environ, start_response, started, kind, *accepted)
        return self.wsgi_app(environ, start_response)

    @staticmethod
    def _taken(environ: dict, max_body: int) -> tuple[str, str] | None:
        """(the helpline code, the webhook's kind) when the front may take it: the rest goes straight to Flask."""
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("QUERY_STRING") or environ.get("SCRIPT_NAME"):
            return None
        match = _PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != FORM:
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or int(length) > max_body or "HTTP_TRANSFER_ENCODING" in environ:
            return None
        return match.group(1), match.group(2)

    def _accepted(self, environ: dict, code: str, kind: str, body: bytes):
        """(the helpline, the validated fields) when the route would accept the webhook, else None."""
        try:
            helpline = helpline_config(code)
            if helpline is None or not (helpline.twilio_auth_token and helpline.twilio_account_sid):
                return None
            # As werkzeug parses a form (FormDataParser._parse_urlencoded).
            form = MultiDict(parse_qsl(body.decode(), keep_blank_values=True, errors="werkzeug.url_quote"))
            # As the route's request.host_url, unless a public base URL is set (behind a proxy).
            base = self.app.config.get("PUBLIC_BASE_URL") or get_current_url(
                environ, host_only=True, trusted_hosts=self.app.config.get("TRUSTED_HOSTS")).rstrip("/")
            algorithm = get_signature_algorithm(environ.get("HTTP_X_TWILIO_WEBHOOKS_SIGNATURE_SETTINGS"))
            url = signed_url(base, environ["PATH_INFO"], "")
            if not signature_valid(helpline.twilio_auth_token, url, form, environ.get("HTTP_X_TWILIO_SIGNATURE", ""),
                                   algorithm):
                return None
            if form.get("AccountSid") != helpline.twilio_account_sid:
                return None
            return helpline, _ROUTES[kind][1].load(form.to_dict())
        except Exception:  # noqa: BLE001 - whatever the front cannot decide (a ValidationError...), the route decides
            return None

    def _answer(self, environ: dict, start_response, started: float, kind: str, helpline, fields: dict):
        g.request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        g.request_started = started
        intake, _, content_type = _ROUTES[kind]
        try:
            result = spool.accept_webhook(intake, helpline, fields)
            body = _answer_body(kind, result)
            publish_committed()
        except Exception as error:  # noqa: BLE001 - Flask handles it, as it would the route's
            return self._handled_by_flask(environ, start_response, error)
        log_request("POST", environ["PATH_INFO"], 200, started, g.request_id, None)
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))),
                   (REQUEST_ID_HEADER, g.request_id)]
        headers += _SECURITY_HEADERS[content_type, environ["wsgi.url_scheme"] == "https"]
        start_response("200 OK", headers)
        return [body]

    def _handled_by_flask(self, environ: dict, start_response, error: Exception):
        """What Flask's wsgi_app does with an exception from a view, in this app context: its g knows
        whether the intake committed anything, which decides whether HelplineFlask may retry."""
        environ["wsgi.input"].seek(0)
        context = self.app.request_context(environ)
        context.push()
        try:
            try:
                response = self.app.finalize_request(self.app.handle_user_exception(error))
            except Exception as again:  # noqa: BLE001 - as Flask.wsgi_app
                response = self.app.handle_exception(again)
            return response(environ, start_response)
        finally:
            context.pop()


def _answer_body(kind: str, accepted) -> bytes:
    """The route's answer: TwiML with a messaging webhook's automatic replies, empty TwiML for a status
    callback, nothing for Conversations (replies go out through its REST API)."""
    if kind == "conversations":
        return b""
    return twiml(spool.twiml_replies(accepted) if kind == "messaging" else []).encode()
