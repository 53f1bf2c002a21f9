"""The demo helpline: created idempotently by `flask --app wsgi demo seed`."""
from __future__ import annotations

import secrets
from datetime import timedelta

from app.auth import service as auth_service
from app.helplines import service as helpline_service
from app.routing import service as routing_service

DEMO_CODE = "demo"
DEMO_USERS = (
    ("counsellor", "counsellor@demo.helpline.test", "Demo Counsellor"),
    ("counsellor", "counsellor2@demo.helpline.test", "Second Counsellor"),
    ("supervisor", "supervisor@demo.helpline.test", "Demo Supervisor"),
    ("manager", "manager@demo.helpline.test", "Demo Manager"),
    ("admin", "admin@demo.helpline.test", "Demo Admin"),
)
DEMO_QUEUES = (
    {"name": "General", "channels": [], "languages": [], "priority": 0},
    {"name": "Chat", "channels": ["chat", "web"], "languages": [], "priority": 1},
)


def seed_demo(password: str, token_ttl: timedelta) -> dict:
    """Create what is missing of the demo helpline and return its credentials and fresh tokens."""
    helpline = helpline_service.find_helpline_by_code(DEMO_CODE)
    if helpline is None:
        # Random per installation: the demo's webhook secret is never a public constant.
        helpline = helpline_service.create_helpline(
            DEMO_CODE, "Demo Child Helpline", "UTC",
            twilio_account_sid="AC" + secrets.token_hex(16),
            twilio_auth_token=secrets.token_hex(16), outbound_sandbox=True,
        )
    elif not helpline.outbound_sandbox:
        # A demo seeded before the sandbox existed: its replies are recorded, not sent to a Twilio it lacks.
        helpline_service.use_outbound_sandbox(helpline.id)
    queues = []
    for spec in DEMO_QUEUES:
        queue = routing_service.find_queue_by_name(helpline.id, spec["name"])
        queues.append(queue or routing_service.create_queue(helpline.id, **spec))
    users = []
    for role, email, name in DEMO_USERS:
        user = auth_service.find_user_by_email(email)
        if user is None:
            user = auth_service.create_user(helpline.id, email, role, name=name, password=password)
        raw_token, _ = auth_service.issue_token(user, token_ttl)
        users.append({"role": user.role, "email": user.email, "id": user.id, "token": raw_token})
    return {
        "helpline": helpline.code,
        "twilio_account_sid": helpline.twilio_account_sid,
        "twilio_auth_token": helpline.twilio_auth_token,
        "users": users,
        "queues": [{"id": q.id, "name": q.name} for q in queues],
    }
