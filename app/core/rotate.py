"""`flask --app wsgi crypto rotate`: re-encrypt every stored value under the newest data key."""
from __future__ import annotations

from typing import Callable

import click
import sqlalchemy as sa
from flask.cli import AppGroup

from app.core.crypto import cipher
from app.core.types import EncryptedJSON, EncryptedText
from app.extensions import db

crypto_cli = AppGroup("crypto", help="Encryption keys.")
# Encrypted data kept outside the database (case attachments): each domain registers how to
# re-encrypt its own, so this module needs to know none of them. Each returns how many it rotated.
_file_rotators: list[Callable[[], int]] = []


def register_file_rotator(rotator: Callable[[], int]) -> None:
    if rotator not in _file_rotators:
        _file_rotators.append(rotator)


def encrypted_columns():
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (EncryptedText, EncryptedJSON)):
                yield table, column


def rotate_all(batch: int = 500) -> int:
    """Rotate in batches, each committed; safe to stop and run again."""
    rotated = 0
    for table, column in encrypted_columns():
        pk = list(table.primary_key.columns)[0]
        # Read and write the stored ciphertext itself, not the decrypted value.
        raw = sa.column(column.name, sa.Text)
        last = None
        while True:
            stmt = sa.select(pk, raw).select_from(table).where(raw.is_not(None)).order_by(pk).limit(batch)
            if last is not None:
                stmt = stmt.where(pk > last)
            rows = db.session.execute(stmt).all()
            if not rows:
                break
            for key, token in rows:
                # A Text literal: binding through the column would encrypt the token again.
                db.session.execute(sa.update(table).where(pk == key)
                                   .values({column.name: sa.literal(cipher.rotate(token), sa.Text)}))
            db.session.commit()
            rotated += len(rows)
            last = rows[-1][0]
    for rotator in _file_rotators:
        rotated += rotator()
    return rotated


@crypto_cli.command("rotate")
def rotate_command():
    """Re-encrypt all personal data with the first key of DATA_ENCRYPTION_KEY (then older keys can be dropped)."""
    click.echo(f"re-encrypted {rotate_all()} values")
