"""Following the office's event feed (``GET /events``): an iterator that long-polls,
yields each event once in order, and keeps its place in a cursor file, so a follower
that stops (or is killed) resumes after the last event it finished with.

The cursor of an event is written when the consumer asks for the next one — after it
has handled that event — so an event whose handling was interrupted comes again
(at least once; de-duplicate on :attr:`FeedEvent.id`). Without a cursor file the
service's own acknowledgement is used: each request with ``after=`` acknowledges, and a
request without one resumes where this client acknowledged last.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hws.client.errors import APIError
from hws.client.polling import transient

#: seconds a request may take beyond the long poll's wait
SLACK = 15.0
#: waits after a transient failure: 1, 2, 4 … up to this
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class FeedEvent:
    """One CloudEvents 1.0 event of the office."""

    id: str
    type: str
    source: str
    subject: str
    time: str
    office: str
    sequence: int
    data: dict[str, Any]
    raw: dict[str, Any]

    @property
    def cursor(self) -> str:
        return str(self.sequence)

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> FeedEvent:
        return cls(
            id=str(item["id"]),
            type=str(item["type"]),
            source=str(item.get("source", "")),
            subject=str(item.get("subject", "")),
            time=str(item.get("time", "")),
            office=str(item.get("hwsoffice", "")),
            sequence=int(item["hwssequence"]),
            data=dict(item.get("data") or {}),
            raw=item,
        )


class CursorFile:
    """The cursor kept in a small file, replaced atomically (written, flushed, renamed)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> str | None:
        try:
            value = self.path.read_text().strip()
        except FileNotFoundError:
            return None
        return value or None

    def write(self, cursor: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cursor-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(cursor + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass
class _Position:
    cursor: str | None
    store: CursorFile | None

    def params(self, wait: float, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"wait": int(wait), "limit": limit}
        if self.cursor is not None:
            params["after"] = self.cursor
        return params

    def done(self, event: FeedEvent) -> None:
        self.cursor = event.cursor
        if self.store is not None:
            self.store.write(event.cursor)


def _position(cursor: str | None, cursor_file: str | os.PathLike[str] | None) -> _Position:
    store = CursorFile(cursor_file) if cursor_file is not None else None
    if cursor is None and store is not None:
        cursor = store.read()
    return _Position(cursor, store)


def _page(response: httpx.Response) -> tuple[list[FeedEvent], bool]:
    body = response.json()
    return [FeedEvent.from_json(item) for item in body.get("events", [])], bool(body.get("more"))


def _backoff(failures: int) -> float:
    return float(min(2 ** (failures - 1), MAX_BACKOFF))


def follow(
    request: Callable[..., httpx.Response],
    sleep: Callable[[float], None],
    *,
    cursor: str | None = None,
    cursor_file: str | os.PathLike[str] | None = None,
    wait: float = 30.0,
    limit: int = 100,
    until_idle: bool = False,
) -> Iterator[FeedEvent]:
    """The events after ``cursor`` (or the cursor file's, or the service's acknowledgement),
    forever, or until an answer holds none when ``until_idle``. ``request`` is
    :meth:`HagueClient.request`. 410 (cursor-expired) and other non-transient errors are raised."""
    position = _position(cursor, cursor_file)
    failures = 0
    while True:
        try:
            response = request(
                "GET", "/events", params=position.params(wait, limit), accept="application/json", timeout=wait + SLACK
            )
        except (APIError, httpx.TransportError) as exc:
            if not transient(exc):
                raise
            failures += 1
            sleep(_backoff(failures))
            continue
        failures = 0
        events, more = _page(response)
        for event in events:
            yield event
            position.done(event)
        if until_idle and not events and not more:
            return


async def afollow(
    request: Callable[..., Awaitable[httpx.Response]],
    sleep: Callable[[float], Awaitable[None]],
    *,
    cursor: str | None = None,
    cursor_file: str | os.PathLike[str] | None = None,
    wait: float = 30.0,
    limit: int = 100,
    until_idle: bool = False,
) -> AsyncIterator[FeedEvent]:
    """:func:`follow` for :class:`AsyncHagueClient`."""
    position = _position(cursor, cursor_file)
    failures = 0
    while True:
        try:
            response = await request(
                "GET", "/events", params=position.params(wait, limit), accept="application/json", timeout=wait + SLACK
            )
        except (APIError, httpx.TransportError) as exc:
            if not transient(exc):
                raise
            failures += 1
            await sleep(_backoff(failures))
            continue
        failures = 0
        events, more = _page(response)
        for event in events:
            yield event
            position.done(event)
        if until_idle and not events and not more:
            return
