from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

MAX_EVENT_ID = 2**62


class StreamArgsSchema(ma.Schema):
    last_event_id = fields.Integer(load_default=None, validate=validate.Range(min=0, max=MAX_EVENT_ID),
                                   metadata={"description": "Replay events after this id (as the Last-Event-ID header)."})
    ticket = fields.String(load_default=None, validate=validate.Length(max=100),
                           metadata={"description": "A single-use ticket from POST /api/v1/events/tickets, "
                                                    "instead of the Authorization header."})


    @ma.pre_load
    def _empty_is_absent(self, data, **kwargs):
        # `?last_event_id=` with nothing after it (a browser client that has seen no event yet).
        if data.get("last_event_id") == "":
            data = {k: v for k, v in data.items() if k != "last_event_id"}
        return data


class TicketSchema(ma.Schema):
    ticket = fields.String()
    expires_at = fields.DateTime()


def parse_last_event_id(header: str | None, query: int | None) -> int | None:
    """The Last-Event-ID header wins over ?last_event_id; a header that is not a number is ignored
    (the spec lets browsers send whatever id they last saw)."""
    if header is not None and header.strip().isdigit() and int(header.strip()) <= MAX_EVENT_ID:
        return int(header.strip())
    return query
