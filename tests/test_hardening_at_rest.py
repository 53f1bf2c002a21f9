"""Security review, data at rest: every column either encrypted, a closed vocabulary, an id, time or number,
or on an allow-list with its reason; every free-text record field encrypted (review item 4)."""
import json

import flask_migrate
import marshmallow as ma
import pytest
import sqlalchemy as sa

from app.contacts import forms
from app.core.types import EncryptedJSON, EncryptedText, UTCDateTime
from app.core.vocabulary import LanguageTag
from app.extensions import db
from tests.channel_helpers import contacts, send_sms, update_contact

NUMERIC = (sa.Integer, sa.BigInteger, sa.SmallInteger, sa.Boolean, sa.Date, UTCDateTime, sa.DateTime)
# Columns whose values come from a fixed list (a CHECK constraint, a schema's OneOf or the registry).
CLOSED_VOCABULARY = {
    "case_attachments.content_type", "users.role", "users.availability", "contacts.channel", "contacts.status", "contacts.priority",
    "contacts.language", "contacts.call_type", "contacts.child_gender", "contacts.child_region",
    "contacts.child_language", "contacts.category_codes", "contacts.category_tops", "contacts.taxonomy_version",
    "helplines.taxonomy_version", "helplines.timezone", "profiles.channel", "profile_flags.flag", "cases.status",
    "case_sections.type", "messages.direction", "messages.sender", "messages.status", "offers.channel",
    "offers.status", "events.type", "assignments.channel", "assignments.how", "assignments.end_reason", "audit_events.action",
    "audit_events.record_type", "search_keys.record_type", "export_schedules.report", "export_schedules.format",
    "exports.report", "exports.format", "exports.delivery_status", "canned_responses.scope",
    "canned_responses.language",
    # Statistics rollups: the contacts' closed-vocabulary columns above, copied by the trigger (kind and grain: n/t/c, d/m).
    "stats_contact_rollups.kind", "stats_contact_rollups.grain", "stats_contact_rollups.code",
    "stats_contact_rollups.channel", "stats_contact_rollups.call_type", "stats_contact_rollups.gender",
    "stats_contact_rollups.region", "stats_contact_rollups.language",
    # Operations rollups: channel and a fixed measure name; grain d/w/m (queue ids are ids, not text).
    "stats_operation_rollups.channel", "stats_operation_rollups.measure", "stats_operation_percentiles.grain",
    "stats_operation_percentiles.channel", "stats_operation_percentiles.measure", "stats_operation_dirty.channel",
}
# Plain text on purpose, each with the reason.
ALLOWED_PLAIN = {
    "events.payload": "live events: ids and closed-vocabulary values the triggers pick; message text stays in messages",
    "events.audience": "who may receive an event: a user id, a counsellor id or a role",
    "helplines.code": "the helpline's public short code (webhook URLs)",
    "helplines.name": "the helpline's own name",
    "helplines.twilio_account_sid": "an account identifier, not a secret; the auth token is encrypted",
    "helplines.settings": "staff configuration: hours, messages, phrases, vocabularies",
    "helplines.permission_rules": "staff configuration",
    "users.email": "staff login; looked up by exact value",
    "users.name": "staff name, shown to colleagues",
    "users.password_hash": "argon2 hash",
    "users.capacity": "numbers per channel",
    "users.skills": "language tags and queue ids",
    "api_tokens.token_hash": "SHA-256 of the token",
    "stream_tickets.ticket_hash": "SHA-256 of the single-use ticket",
    "webchat_sessions.token_hash": "SHA-256 of the token",
    "profiles.identifier_hash": "keyed hash (HMAC) for lookup",
    "contacts.address_hash": "keyed hash (HMAC) for lookup",
    "contacts.thread_key": "keyed hash (HMAC) of the thread",
    "search_keys.key_hash": "keyed hash (HMAC) of a word",
    "contacts.helpline_address": "the helpline's own number or sender id",
    "contacts.conversation_sid": "Twilio's conversation identifier",
    "contacts.form": "the record's plain part: closed vocabularies and numbers only (checked below)",
    "contacts.pre_survey": "answers from closed lists (about_self, age, gender)",
    "contacts.bot_state": "the pre-survey's progress: question index and closed answers",
    "contacts.post_survey": "closed answers (1-5, true/false, null) by the helpline's question ids; "
                            "free text goes to post_survey_private, encrypted",
    "contacts.post_survey_state": "the post-survey's progress: question index and miss count",
    "messages.provider_sid": "Twilio's message identifier",
    "messages.client_key": "session id and the widget's own message id",
    "messages.error_code": "provider error code",
    "messages.error_message": "our own text, never the provider's (which can quote numbers)",
    "queues.name": "staff configuration",
    "queues.channels": "closed list",
    "queues.languages": "language tags",
    "cases.status_history": "statuses, user ids and times",
    "audit_events.fields": "field names, never values",
    "export_schedules.name": "staff configuration",
    "export_schedules.params": "report parameters from closed lists",
    "export_schedules.cron": "a crontab expression",
    "export_schedules.deliver_to": "the receiver's URL, chosen by a manager",
    "exports.params": "report parameters from closed lists",
    "exports.filename": "made from the report's name and dates",
    "exports.content": "anonymised aggregate statistics under disclosure control",
    "exports.delivery_error": "our own fixed text",
    "resources.categories": "taxonomy codes, checked against the helpline's taxonomy",
    "resources.regions": "the helpline's region codes (a closed list in its settings)",
    "resources.languages": "language tags",
    "review_forms.criteria": "staff configuration: criterion ids, labels, max and weight",
    "reviews.criteria": "a copy of the review form (staff configuration)",
    "reviews.scores": "integers by criterion id",
    "reviews.score": "a number, 0 to 100",
}


def _is_id(column) -> bool:
    return column.name == "id" or column.name.endswith("_id") or column.name in ("created_by", "updated_by")


def test_every_column_is_encrypted_closed_an_id_a_number_or_allowed_with_a_reason(app):
    unexplained = []
    for table in db.metadata.sorted_tables:
        for column in table.columns:
            name = f"{table.name}.{column.name}"
            if isinstance(column.type, (EncryptedText, EncryptedJSON)) or isinstance(column.type, NUMERIC):
                continue
            if _is_id(column) or name in CLOSED_VOCABULARY or name in ALLOWED_PLAIN:
                continue
            unexplained.append(name)
    assert unexplained == [], "encrypt these, make them a closed vocabulary, or allow them with a reason"


def _closed(field) -> bool:
    validators = field.validators if isinstance(field.validate, list) or field.validate else []
    if isinstance(field, (ma.fields.Integer, ma.fields.Boolean, LanguageTag)):
        return True
    return any(isinstance(v, ma.validate.OneOf) for v in validators)


def test_the_plain_part_of_a_record_holds_no_free_text():
    """Every string field of the form outside PRIVATE_FIELDS is a closed vocabulary (or checked against one)."""
    checked_by_service = {("child", "region"), (None, "categories")}
    free = []
    for section, schema in ((None, forms.FormSchema()), ("child", forms.ChildSchema()), ("caller", forms.CallerSchema())):
        for name, field in schema.fields.items():
            if isinstance(field, ma.fields.Nested) or name in forms.PRIVATE_FIELDS.get(section, ()):
                continue
            inner = field.inner if isinstance(field, ma.fields.List) else field
            if (section, name) in checked_by_service or _closed(inner):
                continue
            free.append(f"{section or 'form'}.{name}")
    assert free == []


def test_typed_record_fields_and_transfer_notes_are_encrypted_in_the_database(app, client, helpline, counsellor,
                                                                             supervisor, make_user):
    send_sms(client, body="hi")
    contact = contacts(app)[0]
    update_contact(app, contact.id, status="active", counsellor_id=counsellor.id)
    form = {"call_type": "child", "child": {"age": 12, "gender": "girl", "province": "Coast Province 77",
                                            "district": "Kilifi district 77"},
            "caller": {"relationship_to_child": "aunt-77-typed"}}
    assert client.patch(f"/api/v1/contacts/{contact.id}", json={"form": form}, headers=counsellor.headers).status_code == 200
    colleague = make_user(helpline)
    with app.app_context():
        from app.auth.models import User

        db.session.execute(sa.update(User).where(User.id == colleague.id).values(availability="available"))
        db.session.commit()
    response = client.post(f"/api/v1/contacts/{contact.id}/transfer",
                           json={"counsellor_id": colleague.id, "note": "Lives with aunt-77-note"},
                           headers=counsellor.headers)
    assert response.status_code == 200, response.get_json()
    with app.app_context():
        raw = db.session.execute(sa.text("SELECT form, form_private, transfers FROM contacts")).one()
    dumped = json.dumps([str(value) for value in raw])
    for planted in ("Coast Province 77", "Kilifi district 77", "aunt-77-typed", "aunt-77-note"):
        assert planted not in dumped
    shown = client.get(f"/api/v1/contacts/{contact.id}", headers=colleague.headers)
    assert shown.get_json()["transfers"][-1]["note"] == "Lives with aunt-77-note"
    mine = client.get(f"/api/v1/contacts/{contact.id}", headers=supervisor.headers).get_json()
    assert mine["form"]["child"]["province"] == "Coast Province 77"
    assert mine["form"]["caller"]["relationship_to_child"] == "aunt-77-typed"


def test_the_migration_encrypts_what_earlier_versions_stored_plain(app, ctx):
    if db.engine.dialect.name != "sqlite" and db.engine.dialect.name != "postgresql":
        pytest.skip("only SQLite and PostgreSQL are supported")
    flask_migrate.downgrade(revision="0008")
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO helplines (id, code, name, timezone, settings, taxonomy_version, "
                                       "created_at, updated_at) VALUES ('h1', 'old', 'Old', 'UTC', '{}', 'chi-2024', "
                                       "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            connection.execute(sa.text(
                "INSERT INTO contacts (id, helpline_id, channel, status, priority, risk_flag, thread_key, form, transfers, "
                "created_at, updated_at) VALUES ('c1', 'h1', 'sms', 'wrapup', 'normal', false, 't1', :form, :transfers, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"),
                {"form": json.dumps({"call_type": "child", "child": {"age": 9, "province": "Old Province 55"},
                                     "caller": {"relationship_to_child": "uncle-55"}}),
                 "transfers": json.dumps([{"note": "old note 55"}])})
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            raw = connection.execute(sa.text("SELECT form, form_private, transfers FROM contacts")).one()
        dumped = json.dumps([str(v) for v in raw])
        assert not any(planted in dumped for planted in ("Old Province 55", "uncle-55", "old note 55"))
        from app.contacts.models import Contact
        from app.contacts.service import contact_form

        contact = db.session.get(Contact, "c1")
        assert contact.transfers == [{"note": "old note 55"}]
        assert contact_form(contact)["child"] == {"age": 9, "province": "Old Province 55"}
        assert contact.form["child"] == {"age": 9}
    finally:
        db.session.remove()
        with db.engine.begin() as connection:
            connection.execute(sa.text("DELETE FROM contacts"))
            connection.execute(sa.text("DELETE FROM helplines"))
        flask_migrate.upgrade()


def test_key_rotation_re_encrypts_every_encrypted_column(app):
    from app.core.rotate import encrypted_columns

    rotated = {f"{table.name}.{column.name}" for table, column in encrypted_columns()}
    encrypted = {f"{t.name}.{c.name}" for t in db.metadata.sorted_tables for c in t.columns
                 if isinstance(c.type, (EncryptedText, EncryptedJSON))}
    assert rotated == encrypted and "contacts.transfers" in rotated
