"""Reading server-sent event streams in tests."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass


@dataclass
class Frame:
    id: int | None
    event: str | None
    data: dict | None
    comment: str | None = None


def parse_frames(text: str) -> list[Frame]:
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields, comment = {}, None
        for line in block.split("\n"):
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            name, _, value = line.partition(": ")
            fields[name] = value
        if "retry" in fields and len(fields) == 1:
            continue
        frames.append(Frame(int(fields["id"]) if "id" in fields else None, fields.get("event"),
                            json.loads(fields["data"]) if "data" in fields else None, comment))
    return frames


class EventStream:
    """A streamed test-client response, read a chunk at a time (the app pumps its relay inline)."""

    def __init__(self, response):
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/event-stream"
        self.response = response
        self._chunks = iter(response.response)
        self.frames: list[Frame] = []
        self.ended = False
        self._read()  # the first chunk (retry:) is out: the stream is subscribed

    def _read(self) -> bool:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self.ended = True
            return False
        self.frames.extend(parse_frames(chunk.decode() if isinstance(chunk, bytes) else chunk))
        return True

    def events(self, event_type: str | None = None) -> list[Frame]:
        return [f for f in self.frames if f.comment is None and (event_type is None or f.event == event_type)]

    def read_until(self, predicate, timeout: float = 5.0) -> list[Frame]:
        deadline = time.monotonic() + timeout
        while not predicate(self) and time.monotonic() < deadline and not self.ended:
            self._read()
        return self.events()

    def wait_for(self, event_type: str, count: int = 1, timeout: float = 5.0) -> list[Frame]:
        self.read_until(lambda s: len(s.events(event_type)) >= count, timeout)
        return self.events(event_type)

    def settle(self, seconds: float = 0.6) -> list[Frame]:
        """Read for a while (at least one ping), to show that something did NOT arrive."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.ended:
            self._read()
        return self.events()

    def close(self) -> None:
        self.response.close()
