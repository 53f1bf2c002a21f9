"""The Twilio REST client, pointed at TWILIO_API_BASE_URL when that is set."""
from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

REQUEST_TIMEOUT_S = 10


class BaseUrlHttpClient(TwilioHttpClient):
    """Sends every request to one base URL (a test double or a proxy), keeping path and query."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self.base = urlsplit(base_url.rstrip("/"))

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        url = urlunsplit((self.base.scheme, self.base.netloc, self.base.path + parts.path, parts.query, ""))
        return super().request(method, url, *args, **kwargs)


def twilio_client(account_sid: str, auth_token: str, api_base_url: str | None) -> Client:
    http_client = (
        BaseUrlHttpClient(api_base_url, timeout=REQUEST_TIMEOUT_S)
        if api_base_url
        else TwilioHttpClient(timeout=REQUEST_TIMEOUT_S)
    )
    return Client(account_sid, auth_token, http_client=http_client)
