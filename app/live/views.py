"""GET /api/v1/events (the staff stream) and its tickets. The visitor's stream is in channels/views.py."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, current_app, g, request
from flask_smorest import Blueprint

from app.auth.guard import current_user
from app.auth.service import issue_stream_ticket
from app.core.errors import error_response
from app.live import streams
from app.live.schemas import StreamArgsSchema, TicketSchema, parse_last_event_id
from app.live.service import Viewer

blp = Blueprint("live", __name__, url_prefix="/api/v1/events", description="Live events (server-sent events)")

RETRY_AFTER_S = 5


def relay():
    return current_app.extensions["event_relay"]


def streams_full() -> Response:
    return error_response(503, "streams_full", "This server holds as many live streams as it may; try again shortly.",
                          headers={"Retry-After": str(RETRY_AFTER_S)})


@blp.route("/tickets", methods=["POST"])
@blp.response(201, TicketSchema)
def create_ticket():
    """A single-use ticket, valid 60 s, for `GET /api/v1/events?ticket=` (EventSource cannot send headers)."""
    raw, ticket = issue_stream_ticket(g.token, timedelta(seconds=current_app.config["EVENT_TICKET_TTL_S"]))
    return {"ticket": raw, "expires_at": ticket.expires_at}


@blp.route("", methods=["GET"], endpoint="stream")
@blp.arguments(StreamArgsSchema, location="query")
@blp.response(200, content_type="text/event-stream",
              description="`id:`, `event:` and `data:` frames, a `: ping` every 15 s (README, Live events).")
def stream(args):
    """The caller's live events. `Last-Event-ID` (or `?last_event_id=`) first replays what came after it."""
    user = current_user()
    viewer = Viewer(id=user.id, helpline_id=user.helpline_id, role=user.role, token_id=g.token.id,
                    token_expires_at=g.token.expires_at)
    last_event_id = parse_last_event_id(request.headers.get("Last-Event-ID"), args["last_event_id"])
    if not relay().admit():
        return streams_full()
    try:
        return streams.open_staff_stream(current_app._get_current_object(), relay(), viewer, last_event_id)
    except BaseException:
        relay().release()  # no response: nothing else will give the place back
        raise
