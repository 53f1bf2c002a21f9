"""Assertions and readers shared by the tests."""
import contextlib

from app.extensions import db


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The contract's error shape: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code, body
    return body["error"]


def pages(client, actor, path, limit):
    """Every page of a list, following next_cursor; returns the pages' item ids."""
    seen, cursor = [], None
    while True:
        query = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        body = client.get(path, query_string=query, headers=actor.headers).get_json()
        seen.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen


@contextlib.contextmanager
def rotated_data_key(app):
    """Inside: a new data key stands in front of the test key, and `crypto rotate` has moved every
    stored value (and file) under it; yields the new key. After: everything is rotated back under
    the test key, for the tests that follow."""
    from cryptography.fernet import Fernet

    from app.core.crypto import DataCipher
    from app.core.rotate import rotate_all

    def use(keys: str):
        cipher = DataCipher()
        cipher.configure(keys)
        app.extensions["data_cipher"] = cipher

    test_key = app.config["DATA_ENCRYPTION_KEY"]
    new_key = Fernet.generate_key().decode()
    with app.app_context():
        original = app.extensions["data_cipher"]
        use(f"{new_key},{test_key}")
        try:
            rotated = rotate_all()
            yield new_key, rotated
        finally:
            db.session.rollback()
            use(f"{test_key},{new_key}")
            rotate_all()
            app.extensions["data_cipher"] = original


@contextlib.contextmanager
def statements_sent(app):
    """Every SQL statement sent while inside, in order: on PostgreSQL at psycopg's cursor, which also
    sees what core.db sends through the driver; on SQLite at the engine."""
    import sqlalchemy as sa

    sent: list[str] = []
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "postgresql":
        import psycopg

        original = psycopg.Cursor.execute

        def execute(cursor, query, *args, **kwargs):
            sent.append(query if isinstance(query, str) else str(query))
            return original(cursor, query, *args, **kwargs)

        psycopg.Cursor.execute = execute
        try:
            yield sent
        finally:
            psycopg.Cursor.execute = original
        return

    def record(conn, cursor, statement, parameters, context, executemany):
        sent.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
