"""Signing and sending webhooks as Twilio does, and reading what was stored."""
from __future__ import annotations

import itertools

import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from app.contacts.models import Contact, Message
from app.extensions import db
from tests.conftest import ACCOUNT_SID, AUTH_TOKEN

BASE_URL = "https://helpline.test"  # TestingConfig.PUBLIC_BASE_URL
HELPLINE_NUMBER = "+447700900001"
_sids = itertools.count(1)


def sid(prefix: str = "SM") -> str:
    return f"{prefix}{next(_sids):032x}"


def sign(path_and_query: str, params: dict, token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(BASE_URL + path_and_query, params)


def post_signed(client, path: str, params: dict, *, token: str = AUTH_TOKEN, signature: str | None = None, **kwargs):
    signature = sign(path, params, token) if signature is None else signature
    headers = {"X-Twilio-Signature": signature, **kwargs.pop("headers", {})}
    return client.post(path, data=params, headers=headers, **kwargs)


def sms(body: str = "hello", sender: str = "+447700900123", message_sid: str | None = None, **extra) -> dict:
    return {"MessageSid": message_sid or sid(), "AccountSid": ACCOUNT_SID, "From": sender, "To": HELPLINE_NUMBER,
            "Body": body, "NumMedia": "0", "ApiVersion": "2010-04-01", **extra}


def send_sms(client, helpline_code: str = "main", **kwargs):
    return post_signed(client, f"/webhooks/{helpline_code}/twilio/messaging", sms(**kwargs))


def contacts(app) -> list[Contact]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(Contact).order_by(Contact.created_at, Contact.id)))
        db.session.expunge_all()
        return rows


def messages(app, contact_id: str | None = None) -> list[Message]:
    with app.app_context():
        stmt = sa.select(Message).order_by(Message.id)
        if contact_id:
            stmt = stmt.where(Message.contact_id == contact_id)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def twiml_messages(response) -> list[str]:
    import xml.etree.ElementTree as ET

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/xml"
    root = ET.fromstring(response.get_data())
    assert root.tag == "Response"
    return [el.text for el in root.iter("Message")]


def set_settings(app, helpline_id: str, **settings) -> None:
    from app.helplines import service

    with app.app_context():
        service.update_helpline(helpline_id, {"settings": settings})


def update_contact(app, contact_id: str, **values) -> None:
    with app.app_context():
        db.session.execute(sa.update(Contact).where(Contact.id == contact_id).values(**values))
        db.session.commit()
