"""A durable local spool for Twilio webhooks while the database is down: no child's message is lost.

A signed webhook that cannot be stored because the database is unreachable is appended to a
spool file (one Fernet-encrypted JSON line per webhook, flushed and fsynced before the 200 goes
out) and answered with empty TwiML. When the database is back, the spool is replayed through the
same intake, idempotently: a message already stored (by MessageSid) stores nothing new, so a
replay that is interrupted, or a webhook that Twilio also redelivers, cannot duplicate anything.

The signature is still checked during an outage, with the helpline's last known credentials
(app/helplines/service.py keeps them when its database read fails). Spool files live in
WEBHOOK_SPOOL_DIR (default instance/spool), one per process; replay claims a file by renaming it.
Every web process replays its own machine's spool from a small background thread started on the
first spooled webhook; the scheduler's job replays whatever is left on its machine.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from flask import Flask, current_app

from app.channels import outbound, service
from app.core import events
from app.core.crypto import cipher
from app.core.outage import database_failure
from app.core.time import utcnow
from app.extensions import db
from app.helplines.service import HelplineConfig, helpline_config

log = logging.getLogger(__name__)
MESSAGING, CONVERSATIONS, STATUS = "messaging", "conversations", "status"
REPLAY_EVERY_S = 5
_write_lock = threading.Lock()
_replayers: dict[str, threading.Thread] = {}


def spool_dir() -> Path:
    path = Path(current_app.config["WEBHOOK_SPOOL_DIR"])
    path.mkdir(parents=True, exist_ok=True)
    return path


def _process(kind: str, helpline: HelplineConfig, fields: dict):
    if kind == MESSAGING:
        return service.receive_twilio_message(helpline, fields)
    if kind == CONVERSATIONS:
        return service.receive_conversation_message(helpline, fields) if fields["EventType"] == "onMessageAdded" else None
    return outbound.record_delivery_status(helpline.id, fields["MessageSid"], fields["MessageStatus"],
                                           fields.get("ErrorCode"))


def accept_webhook(kind: str, helpline: HelplineConfig, fields: dict):
    """Process a signed, validated webhook; if the database is down, spool it. Returns the intake's result,
    or None when spooled."""
    try:
        return _process(kind, helpline, fields)
    except Exception as error:
        if not database_failure(error):
            raise
        db.session.rollback()
        spool(kind, helpline.code, fields)
        return None


def twiml_replies(accepted) -> list[str]:
    """The automatic replies a messaging webhook's TwiML answer carries: none when it was spooled during a
    database outage (stored later, answered now)."""
    return accepted.replies if accepted is not None else []


def spool(kind: str, helpline_code: str, fields: dict) -> None:
    record = {"kind": kind, "helpline": helpline_code, "fields": fields, "received_at": utcnow().isoformat()}
    line = cipher.encrypt(json.dumps(record, default=str)).encode("ascii") + b"\n"
    path = spool_dir() / f"webhooks-{os.getpid()}.spool"
    with _write_lock:
        with open(path, "ab") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
    log.warning("webhook spooled while the database is unavailable", extra={"kind": kind})
    _start_replayer(current_app._get_current_object())


def replay_spool() -> int:
    """Feed every spooled webhook of this machine through the intake; returns how many were processed.
    A file is removed only when all of it went through; on a database failure it is left for later."""
    done = 0
    for path in sorted(spool_dir().glob("webhooks-*.spool")):
        claimed = path.with_name(f"{path.stem}.replaying-{os.getpid()}-{threading.get_ident()}")
        try:
            with _write_lock:
                os.replace(path, claimed)
        except FileNotFoundError:
            continue  # another replayer took it
        try:
            for line in claimed.read_bytes().splitlines():
                if line.strip():
                    record = json.loads(cipher.decrypt(line.decode("ascii")))
                    _replay_one(record)
                    done += 1
        except Exception as error:
            db.session.rollback()
            _return_unfinished(claimed, path)
            if database_failure(error):
                return done
            raise
        claimed.unlink()
    if done:
        log.info("spooled webhooks replayed", extra={"count": done})
    return done


def _replay_one(record: dict) -> None:
    helpline = helpline_config(record["helpline"])
    if helpline is not None:
        _process(record["kind"], helpline, record["fields"])
        events.publish_committed()


def _return_unfinished(claimed: Path, original: Path) -> None:
    """Put a partly replayed file back (its processed lines replay as duplicates, which store nothing)."""
    with _write_lock:
        if original.exists():
            # This process spooled more meanwhile: keep both, the older lines first.
            combined = claimed.read_bytes() + original.read_bytes()
            tmp = original.with_suffix(".tmp")
            tmp.write_bytes(combined)
            os.replace(tmp, original)
            claimed.unlink()
        else:
            os.replace(claimed, original)


def _start_replayer(app: Flask) -> None:
    """One background thread per process and app that replays until the spool is empty."""
    key = f"{os.getpid()}:{id(app)}"
    if not app.config.get("WEBHOOK_SPOOL_REPLAYER", True):
        return
    running = _replayers.get(key)
    if running is not None and running.is_alive():
        return
    thread = threading.Thread(target=_replay_until_empty, args=(app,), name="spool-replay", daemon=True)
    _replayers[key] = thread
    thread.start()


def _replay_until_empty(app: Flask) -> None:
    while True:
        time.sleep(REPLAY_EVERY_S)
        with app.app_context():
            try:
                replay_spool()
                if not any(spool_dir().glob("webhooks-*.spool")):
                    return
            except Exception as error:  # noqa: BLE001 - keep trying; the scheduler job is behind this
                log.error("spool replay failed", extra={"error_type": type(error).__name__})
            finally:
                db.session.remove()
