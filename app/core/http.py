"""Request checks shared by the JSON APIs."""
from __future__ import annotations

from flask import Flask, request
from flask.sessions import SessionInterface

from app.core.errors import error_response

JSON_PREFIXES = ("/api/v1/", "/webchat/")


def init_json_guard(app: Flask) -> None:
    @app.before_request
    def _require_json_body():
        """415 for a body that is not JSON on a JSON route (webhooks are form-encoded and live elsewhere)."""
        if request.method not in ("POST", "PUT", "PATCH") or not request.path.startswith(JSON_PREFIXES):
            return None
        has_body = (request.content_length or 0) > 0 or request.headers.get("Transfer-Encoding") == "chunked"
        if has_body and not request.is_json:
            return error_response(415, "unsupported_media_type", "Send the body as application/json.")
        return None


class NoCookieSessions(SessionInterface):
    """Flask's cookie session, switched off: this API authenticates with bearer tokens only."""

    def open_session(self, app, request):
        return None  # Flask then uses a null session

    def save_session(self, app, session, response):
        return None
