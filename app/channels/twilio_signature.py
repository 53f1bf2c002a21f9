"""Twilio's webhook signature checked as the SDK does, and the TwiML answers: one copy for the webhook
routes (views) and for their front (front), so that the two cannot come to differ."""
from __future__ import annotations

import hmac

from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse

FORM = "application/x-www-form-urlencoded"
EMPTY_TWIML = str(MessagingResponse())


def signed_url(base_url: str, path: str, query: str) -> str:
    """The URL Twilio signed: the public base URL (or our own host's), the path and any query string."""
    return f"{base_url}{path}" + (f"?{query}" if query else "")


class SignedForm:
    """The form as the SDK's compute_signature reads it: its names, and `getall` for a name's values.

    The SDK asks for `getall` (not a werkzeug MultiDict method) and falls back on `getlist` when that
    raises AttributeError: an exception for every field of every webhook, 2% of the request."""

    __slots__ = ("_form",)

    def __init__(self, form):
        self._form = form

    def __iter__(self):
        return iter(self._form)

    def __bool__(self):
        return bool(self._form)

    def getall(self, name):
        return self._form.getlist(name)


def signature_valid(auth_token: str, url: str, form, signature: str, algorithm: str) -> bool:
    """The SDK's check, with one HMAC instead of two for a signature over the URL as we build it.

    RequestValidator.validate always computes two HMACs, over the URL without and with its port
    (Twilio has signed both ways). The URL we build is one of the two, so try it alone first, and
    run the full check only when that fails: the same answer, at half the cost in the usual case."""
    if not signature:
        return False
    validator = RequestValidator(auth_token)
    try:
        computed = validator.compute_signature(url, SignedForm(form), algorithm)
        if hmac.compare_digest(computed.encode(), signature.encode()):
            return True
    except ValueError:  # an algorithm the SDK does not know: validate() refuses it (and logs why)
        pass
    return validator.validate(url, form, signature, algorithm)


def twiml(replies: list[str]) -> str:
    """A messaging webhook's answer: <Response/>, or a <Message> for each automatic reply."""
    if not replies:
        return EMPTY_TWIML
    answer = MessagingResponse()
    for text in replies:
        answer.message(text)
    return str(answer)
