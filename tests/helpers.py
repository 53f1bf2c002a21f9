"""Assertions and readers shared by the tests."""


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
