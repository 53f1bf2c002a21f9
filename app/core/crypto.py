"""Encryption at rest and keyed lookup hashes for personal data.

`DATA_ENCRYPTION_KEY` holds one or more Fernet keys separated by commas, newest
first: values are encrypted with the first and decrypted with whichever
matches, so a key can be rotated by putting a new one in front (see README).

Encrypted values cannot be searched, so each searchable value (a phone number,
a name token) is also stored as an HMAC-SHA256 under a separate index key.
"""
from __future__ import annotations

import base64
import hmac

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from werkzeug.local import LocalProxy


class CryptoNotConfigured(RuntimeError):
    pass


class DataCipher:
    def __init__(self):
        self._fernet: MultiFernet | None = None
        self._index_key: bytes | None = None

    def configure(self, encryption_keys: str, index_key: str | None = None) -> None:
        from config import ConfigError

        keys = [k.strip() for k in (encryption_keys or "").split(",") if k.strip()]
        if not keys:
            raise ConfigError("DATA_ENCRYPTION_KEY is empty")
        try:
            fernets = [Fernet(k) for k in keys]
        except (ValueError, TypeError):
            raise ConfigError(
                "DATA_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes), comma-separated; "
                "make one with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
            ) from None
        self._fernet = MultiFernet(fernets)
        if index_key:
            material = index_key.encode()
        else:
            # The oldest key stays in the list through rotations, so lookups keep working.
            material = base64.urlsafe_b64decode(keys[-1])
        self._index_key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"helpline lookup index v1"
        ).derive(material)

    @property
    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            raise CryptoNotConfigured("create_app() configures encryption before any database use")
        return self._fernet

    def encrypt(self, plaintext: str) -> str:
        return self.fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self.fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise CryptoNotConfigured(
                "a stored value could not be decrypted: is DATA_ENCRYPTION_KEY missing a key?"
            ) from None

    def rotate(self, token: str) -> str:
        """Re-encrypt a stored value under the newest key."""
        return self.fernet.rotate(token.encode("ascii")).decode("ascii")

    def lookup_hash(self, value: str, purpose: str) -> str:
        """A keyed hash of an already normalised value; `purpose` keeps domains apart."""
        if self._index_key is None:
            raise CryptoNotConfigured("create_app() configures encryption before any database use")
        message = purpose.encode() + b"\x00" + value.encode("utf-8")
        return hmac.digest(self._index_key, message, "sha256").hex()  # one-shot: the same HMAC, without an object


def _app_cipher() -> DataCipher:
    from flask import current_app

    return current_app.extensions["data_cipher"]


# The current app's cipher (each app has its own keys; tests build several apps).
cipher: DataCipher = LocalProxy(_app_cipher)  # type: ignore[assignment]
