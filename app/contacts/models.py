from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.core.ids import new_id
from app.core.time import utcnow
from app.core.types import EncryptedJSON, EncryptedText, JSONDocument, UTCDateTime
from app.extensions import db

# Longer than any channel carries (SMS 1,600, WhatsApp 4,096): a child's message is never cut.
MAX_TEXT = 20_000
CHANNELS = ("sms", "whatsapp", "messenger", "chat", "web", "voice", "offline")


class ContactStatus(StrEnum):
    """A contact's state. bot -> queued -> offered -> active -> wrapup -> completed, or it ends early as
    abandoned, blocked or out_of_hours. Each transition lives in one function (routing and contacts)."""

    BOT = "bot"
    QUEUED = "queued"
    OFFERED = "offered"
    ACTIVE = "active"
    WRAPUP = "wrapup"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    BLOCKED = "blocked"
    OUT_OF_HOURS = "out_of_hours"


STATUSES = tuple(ContactStatus)
# A contact is live until it ends; live contacts take the new messages of their thread.
LIVE_STATUSES = (ContactStatus.BOT, ContactStatus.QUEUED, ContactStatus.OFFERED, ContactStatus.ACTIVE)
# A pending outbound message not sent within this is taken over by the scheduler's retry job.
PENDING_GRACE = timedelta(minutes=2)
MESSAGE_STATUSES = ("received", "pending", "sent", "delivered", "read", "failed", "undelivered")


class Contact(db.Model):
    __tablename__ = "contacts"
    __table_args__ = (
        # At most one live contact per conversation thread: two first messages racing
        # from one new address cannot open two contacts.
        sa.Index(
            "ix_contacts_live_thread", "helpline_id", "thread_key", unique=True,
            postgresql_where=sa.text("ended_at IS NULL"), sqlite_where=sa.text("ended_at IS NULL"),
        ),
        sa.Index("ix_contacts_status_queued_at", "status", "queued_at"),
        sa.Index("ix_contacts_helpline_id_created_at", "helpline_id", "created_at"),
        # Statistics read only this index (an index-only scan): finalized contacts by time,
        # with every column a table can be broken down by. A third of the table's size.
        sa.Index(
            "ix_contacts_statistics", "helpline_id", "created_at",
            postgresql_include=["channel", "call_type", "child_age", "child_gender", "child_region", "child_language",
                                "language", "category_tops", "category_codes"],
            postgresql_where=sa.text("finalized_at IS NOT NULL"),
        ).ddl_if(dialect="postgresql"),
        # The thread's contact whose post-contact survey is running (a new message answers it).
        sa.Index("ix_contacts_post_survey_thread", "helpline_id", "thread_key",
                 postgresql_where=sa.text("post_survey_until IS NOT NULL"),
                 sqlite_where=sa.text("post_survey_until IS NOT NULL")),
        sa.Index("ix_contacts_post_survey_until", "post_survey_until",
                 postgresql_where=sa.text("post_survey_until IS NOT NULL"),
                 sqlite_where=sa.text("post_survey_until IS NOT NULL")),
        sa.CheckConstraint(
            sa.text("status IN ('bot', 'queued', 'offered', 'active', 'wrapup', 'completed', 'abandoned', "
                    "'blocked', 'out_of_hours')"),
            name="status",
        ),
    )

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_id)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    profile_id: Mapped[str | None] = mapped_column(sa.ForeignKey("profiles.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    queue_id: Mapped[str | None] = mapped_column(sa.ForeignKey("queues.id", ondelete="SET NULL"))
    counsellor_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    priority: Mapped[str] = mapped_column(sa.String(16), default="normal")
    risk_flag: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    language: Mapped[str | None] = mapped_column(sa.String(16))
    pre_survey: Mapped[dict | None] = mapped_column(JSONDocument)
    # The pre-survey bot's progress while status is "bot".
    bot_state: Mapped[dict | None] = mapped_column(JSONDocument)
    # The post-contact survey (app/channels/postsurvey.py). Closed answers (scale, yes/no) by question id,
    # plain; free-text answers encrypted; its progress and deadline while it runs; when it finished with
    # at least one answer; the first scale answer, which statistics average.
    post_survey: Mapped[dict | None] = mapped_column(JSONDocument)
    post_survey_private: Mapped[dict | None] = mapped_column(EncryptedJSON)
    post_survey_state: Mapped[dict | None] = mapped_column(JSONDocument)
    post_survey_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    post_survey_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    satisfaction: Mapped[int | None] = mapped_column(sa.SmallInteger)
    # The child's address (phone number, chat identity), encrypted; found by its keyed hash.
    address: Mapped[str | None] = mapped_column(EncryptedText)
    address_hash: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    # Keyed hash naming the conversation thread new messages join.
    thread_key: Mapped[str] = mapped_column(sa.String(64))
    # The helpline's own number or sender the child wrote to: replies go out from it.
    helpline_address: Mapped[str | None] = mapped_column(sa.String(64))
    conversation_sid: Mapped[str | None] = mapped_column(sa.String(64))
    # The record's plain part (what statistics count); its personal part is `form_private`.
    form: Mapped[dict] = mapped_column(JSONDocument, default=dict)
    # Names, phone numbers and free text of the record, as encrypted JSON.
    form_private: Mapped[str | None] = mapped_column(EncryptedText)
    # What statistics group by, copied from `form` whenever the ORM writes it (see below),
    # so a national table is one GROUP BY over plain columns.
    call_type: Mapped[str | None] = mapped_column(sa.String(32))
    child_age: Mapped[int | None] = mapped_column(sa.SmallInteger)
    child_gender: Mapped[str | None] = mapped_column(sa.String(16))
    child_region: Mapped[str | None] = mapped_column(sa.String(16))
    child_language: Mapped[str | None] = mapped_column(sa.String(16))
    # Distinct category codes, and their distinct top levels.
    category_codes: Mapped[list | None] = mapped_column(sa.ARRAY(sa.Text()).with_variant(sa.JSON(), "sqlite"))
    category_tops: Mapped[list | None] = mapped_column(sa.ARRAY(sa.Text()).with_variant(sa.JSON(), "sqlite"))
    # [{"from_counsellor_id", "to_queue_id", "to_counsellor_id", "note", "at"}]: the receiver reads them.
    # Encrypted: the notes are typed text about the child. NULL is no transfer yet.
    transfers: Mapped[list | None] = mapped_column(EncryptedJSON)
    taxonomy_version: Mapped[str | None] = mapped_column(sa.String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    case_id: Mapped[str | None] = mapped_column(sa.ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    # Set by the retention job when messages and personal fields were erased.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The seq of the contact's newest message (see Message.seq).
    last_seq: Mapped[int] = mapped_column(sa.Integer, default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(db.Model):
    """One message in or out."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_contact_id_id", "contact_id", "id"),
        sa.Index("ix_messages_contact_id_seq", "contact_id", "seq", unique=True),
        sa.Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(sa.ForeignKey("contacts.id", ondelete="CASCADE"))
    # The message's place in its conversation (1, 2, ...), the web chat's `seq`. Taken with
    # take_message_seq under the contact's row lock, which the transaction holds until it commits:
    # a message with a higher seq never becomes visible before one with a lower seq, so a client
    # polling `seq > after` cannot skip one. (Ids are not like that: concurrent transactions take
    # ids in one order and commit in another.)
    seq: Mapped[int] = mapped_column(sa.Integer)
    direction: Mapped[str] = mapped_column(sa.String(8))  # inbound | outbound
    sender: Mapped[str] = mapped_column(sa.String(16))  # visitor | counsellor | system
    author_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    body: Mapped[str | None] = mapped_column(EncryptedText)
    # Twilio's MessageSid (SM..., IM...): unique, so a redelivered webhook stores nothing new.
    provider_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    # Web chat's client_message_id, scoped by session: "<session id>:<client id>".
    client_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    error_code: Mapped[str | None] = mapped_column(sa.String(32))
    error_message: Mapped[str | None] = mapped_column(sa.String(500))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the latest send was claimed: a timed-out attempt is looked for at the provider from then on.
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    num_media: Mapped[int] = mapped_column(sa.Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SearchKey(db.Model):
    """Keyed hashes of a record's searchable personal data (name words, phone numbers,
    words of summaries and notes): search finds exact words without storing them in the clear."""

    __tablename__ = "search_keys"
    __table_args__ = (sa.Index("ix_search_keys_lookup", "helpline_id", "record_type", "key_hash"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True)
    helpline_id: Mapped[str] = mapped_column(sa.ForeignKey("helplines.id", ondelete="CASCADE"))
    record_type: Mapped[str] = mapped_column(sa.String(16))  # contact | case
    record_id: Mapped[str] = mapped_column(sa.String(36), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64))


def copy_statistics_fields(contact: Contact) -> None:
    form = contact.form or {}
    child = form.get("child") or {}
    codes = sorted(set(form.get("categories") or []))
    contact.call_type = form.get("call_type")
    contact.child_age = child.get("age")
    contact.child_gender = child.get("gender")
    contact.child_region = child.get("region")
    contact.child_language = child.get("language")
    contact.category_codes = codes
    contact.category_tops = sorted({code.split(".")[0] for code in codes})


@sa.event.listens_for(Contact, "before_insert")
@sa.event.listens_for(Contact, "before_update")
def _copy_statistics_fields(mapper, connection, contact: Contact) -> None:
    copy_statistics_fields(contact)


_contacts_table = Contact.__table__
_TAKE_SEQ = (sa.update(_contacts_table).where(_contacts_table.c.id == sa.bindparam("contact_id"))
             .values(last_seq=_contacts_table.c.last_seq + 1).returning(_contacts_table.c.last_seq))


def take_message_seq(contact_id: str) -> int:
    """The next seq of the contact's messages; locks the contact row until the transaction ends."""
    return db.session.execute(_TAKE_SEQ, {"contact_id": contact_id}).scalar_one()


@sa.event.listens_for(Message, "before_insert")
def _give_seq(mapper, connection, message: Message) -> None:
    """Every message the ORM stores takes its seq here; Core inserts call take_message_seq."""
    if message.seq is None:
        message.seq = connection.execute(_TAKE_SEQ, {"contact_id": message.contact_id}).scalar_one()
