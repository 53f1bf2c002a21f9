"""Security review, platform: the error path, what logs may say, cross-tenant status callbacks,
quiet scheduler logs (review items 7, 18, 19, 23)."""
import json
import logging

import sqlalchemy as sa

from app import create_app
from app.contacts.models import Message
from app.core.time import utcnow
from app.extensions import db
from tests.channel_helpers import contacts, post_signed, send_sms, sid
from tests.helpers import assert_error

OTHER_SID = "AC" + "fedcba9876543210" * 2
OTHER_TOKEN = "other-auth-token-0123456789abcdef"


def test_a_status_callback_signed_by_another_helpline_changes_nothing(app, client, helpline, make_helpline):
    send_sms(client, body="hello")
    contact = contacts(app)[0]
    provider_sid = sid()
    with app.app_context():
        db.session.add(Message(helpline_id=helpline, contact_id=contact.id, direction="outbound", sender="counsellor",
                               body="reply", provider_sid=provider_sid, status="sent", attempts=1, created_at=utcnow()))
        db.session.commit()
    make_helpline("other", twilio_account_sid=OTHER_SID, twilio_auth_token=OTHER_TOKEN)
    response = post_signed(client, "/webhooks/other/twilio/status",
                           {"MessageSid": provider_sid, "AccountSid": OTHER_SID, "MessageStatus": "undelivered",
                            "ErrorCode": "30008"}, token=OTHER_TOKEN)
    assert response.status_code == 200
    with app.app_context():
        stored = db.session.scalar(sa.select(Message).where(Message.provider_sid == provider_sid))
        assert (stored.status, stored.error_code) == ("sent", None)


def _app_with_failing_route(app, capsys):
    """A fresh app (on the suite's database) with a route whose database write fails quoting a planted value."""
    failing = create_app({"APP_CONFIG": "testing", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"]})
    capsys.readouterr()

    @failing.route("/api/v1/_test/fail")
    def fail():
        from app.helplines.models import Helpline

        db.session.add(Helpline(code="planted-7731", name="x"))
        db.session.add(Helpline(code="planted-7731", name="y"))
        db.session.flush()  # unique violation; PostgreSQL's DETAIL quotes the code
        return "unreachable"

    return failing


def test_a_database_error_answers_the_contract_500_and_logs_no_submitted_value(app, admin, capsys):
    failing = _app_with_failing_route(app, capsys)
    response = failing.test_client().get("/api/v1/_test/fail", headers=admin.headers)
    assert_error(response, 500, "internal_error")
    logged = capsys.readouterr().err
    assert "planted-7731" not in logged
    records = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    errors = [r for r in records if r["level"] == "ERROR"]
    assert len(errors) == 1, errors
    assert errors[0]["error_type"] == "IntegrityError" and errors[0]["where"]
    # The request line still names the user: the logger did not touch the failed session.
    request_line = next(r for r in records if r.get("message") == "request")
    assert request_line["status"] == 500 and request_line["user_id"] == admin.id


def test_scheduler_runs_log_at_debug_not_info(app, caplog):
    from app.core.scheduler import Job, run_job

    with caplog.at_level(logging.INFO):
        run_job(app, Job("noop", lambda: 0, 1))
    assert not [r for r in caplog.records if r.name == "app.core.scheduler"]
    with caplog.at_level(logging.DEBUG, logger="app.core.scheduler"):
        run_job(app, Job("noop", lambda: 0, 1))
    assert [r.message for r in caplog.records if r.name == "app.core.scheduler"] == ["job done"]
