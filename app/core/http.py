"""Request checks shared by every route: JSON bodies where JSON is expected, no control characters."""
from __future__ import annotations

import re

from flask import Flask, current_app, request
from flask.sessions import SessionInterface

from app.core.errors import error_response

JSON_PREFIXES = ("/api/v1/", "/webchat/")
# C0 controls and DEL. Ids, names, filters and codes never hold them; PostgreSQL refuses NUL in text.
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Text a person types may hold tabs and line breaks, never the other controls.
CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _bad_strings(value, where: str, found: dict) -> None:
    """Record in `found` every JSON location holding a control character (keys never may; text all but tab/CR/LF)."""
    if isinstance(value, str):
        if CONTROL_IN_TEXT.search(value):
            found[where or "body"] = ["Control characters are not allowed."]
    elif isinstance(value, dict):
        for key, item in value.items():
            if CONTROL.search(key):
                found[where or "body"] = ["Control characters are not allowed in keys."]
            else:
                _bad_strings(item, f"{where}.{key}" if where else key, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _bad_strings(item, f"{where}.{index}" if where else str(index), found)


def control_character_problem():
    """An error response for a request carrying control characters, or None.

    Checked before any view for every route, so no such value reaches a query, a column
    or a log: in the path (404: no resource has such a name), the query string and JSON
    bodies (422, naming the field). Webhook form bodies are Twilio's and are cleaned by
    their schemas instead: a child's message is never refused for what their phone sent."""
    if CONTROL.search(request.path):
        return error_response(404, "not_found", "Not found.")
    found: dict = {}
    if request.query_string:  # most requests have none: skip building request.args for them
        for key, value in request.args.items(multi=True):
            if CONTROL.search(key) or CONTROL.search(value):
                found[key if not CONTROL.search(key) else "query"] = ["Control characters are not allowed."]
    if (request.content_length or 0) > 0 and request.is_json:
        _bad_strings(request.get_json(silent=True), "", found)
    if found:
        return error_response(422, "validation_error", "The request is invalid; see details.", found)
    return None


def multipart_upload(max_bytes: int):
    """Mark a view as taking one multipart upload of at most `max_bytes` (plus the form's own bytes):
    the JSON guard lets it through and the body limit is raised for it alone. Put it right under
    the route decorator, so it runs before the form is parsed."""
    import functools

    def decorator(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            request.max_content_length = max_bytes + 64 * 1024
            return view(*args, **kwargs)

        wrapper.multipart_upload = True
        return wrapper

    return decorator


def _takes_multipart() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "multipart_upload", False)) and request.mimetype == "multipart/form-data"


def init_json_guard(app: Flask) -> None:
    app.before_request(control_character_problem)

    @app.before_request
    def _require_json_body():
        """415 for a body that is not JSON on a JSON route (webhooks are form-encoded and live elsewhere)."""
        if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith(JSON_PREFIXES):
            return None
        has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding") == "chunked"
        if has_body and not request.is_json and not _takes_multipart():
            return error_response(415, "unsupported_media_type", "Send the body as application/json.")
        return None


class NoCookieSessions(SessionInterface):
    """Flask's cookie session, switched off: this API authenticates with bearer tokens only."""

    def open_session(self, app, request):
        return None  # Flask then uses a null session

    def save_session(self, app, session, response):
        return None
