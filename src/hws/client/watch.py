"""``hws watch``: an office process that follows its work on the service so that nobody
has to poll by hand.

Each round (:meth:`Watcher.round`):

1. **outbox** (optional): every ``*.zip`` put in the outbox folder is sent (with an
   ``Idempotency-Key`` made of its SHA-256, so a send repeated after a crash gets the first
   answer), followed, and moved to ``sent/``; a package the service refuses outright
   (400, 413, 422…) goes to ``refused/`` with the problem beside it;
2. **imports**: each followed import is asked for (conditional GET); ``Imported`` or
   ``Rejected`` is an event, and the service request it became is followed;
3. **service requests**: each one not yet final is asked for; every change of status is
   an event; a final status (Registered, Abandoned, Cancelled) ends the following;
4. **publications**: the bulletin and, for an examining office, its confidential copy of
   every week published since the first one wanted, downloaded as ``hws bulletin`` does
   (resumable ``.part`` file, verified against the service's digest and the listing);
5. **hooks**: the hook command runs once per recorded event, in order.

Everything seen is kept in a :class:`~hws.client.watch_state.WatchState` file, each
change with its event in one transaction: killed at any point (even ``SIGKILL`` in the
middle of a download), the next run resumes the download, records what it had not, and
runs the hooks of the events that were recorded and not yet hooked. A hook that was
running at the kill runs again (its ``HWS_EVENT_ID`` is the same: a hook that must not
act twice can check it).

Where the service has the event feed (``GET /events``), the watcher waits between rounds
on it (a long poll) instead of asking about each import, request and week every round:
an event ends the wait, and the next round asks the service; a round without news only
looks at the outbox, and every :data:`FULL_ROUND_SECONDS` the service is asked about
everything anyway. Its place in the feed is kept in the state file (``feed_cursor``).
Without the feed (an older service answers 404) every round asks, as before.

A network failure, 429 or 5xx ends the step, is reported, and the step is tried again in
the next round; a refusal that a person must fix (401, 403, a state file of another
office) stops the watcher.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from hws.client.downloads import BULLETIN, CONFIDENTIAL, Publication
from hws.client.errors import APIError, DownloadError
from hws.client.hague import HagueClient
from hws.client.hooks import Hook
from hws.client.polling import transient
from hws.client.watch_state import Event, Followed, StateError, WatchState
from hws.domain.lifecycle import Status

#: an outbox file younger than this (seconds since its last change) may still be being written
SETTLE_SECONDS = 2.0
#: a hook that failed this many times is given up (its event stays, marked ``failed``)
HOOK_ATTEMPTS = 5

#: with the event feed, the service is still asked about everything at least this often
FULL_ROUND_SECONDS = 300.0
#: the longest single long poll of the feed (a stop is noticed within it)
FEED_POLL_SECONDS = 10.0

#: progress of a download: (label, bytes done, total bytes)
Progress = Callable[[str, int, int], None]


def passing(exc: BaseException) -> bool:
    """A failure the next round may not see: the network, 429, 502-504
    (:func:`~hws.client.polling.transient`), or a download that did not verify."""
    return transient(exc) or isinstance(exc, DownloadError)


@dataclass
class WatchOptions:
    out_dir: Path
    outbox: Path | None = None
    #: download the office's confidential copies: True, False, or None (when the office is examining)
    confidential: bool | None = None
    #: first week to download (``yyyyww``); None: kept from the first run, which takes the newest published week
    since: str | None = None
    hook: Hook | None = None
    hook_attempts: int = HOOK_ATTEMPTS
    settle_seconds: float = SETTLE_SECONDS


@dataclass
class Round:
    """What one round did: the events it recorded, the hooks it ran, the steps that failed
    for a reason the next round may not see."""

    events: list[Event] = field(default_factory=list)
    hooks_run: int = 0
    hooks_failed: int = 0
    problems: list[tuple[str, BaseException]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "events": [e.to_dict() for e in self.events],
            "hooks_run": self.hooks_run,
            "hooks_failed": self.hooks_failed,
            "problems": [{"step": step, "error": str(exc)} for step, exc in self.problems],
        }


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    n = 1
    while target.exists():
        target = folder / f"{Path(name).stem}.{n}{Path(name).suffix}"
        n += 1
    return target


class Watcher:
    def __init__(
        self,
        client: HagueClient,
        state: WatchState,
        options: WatchOptions,
        *,
        on_event: Callable[[Event], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        progress: Progress | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.state = state
        self.options = options
        self._on_event = on_event or (lambda event: None)
        self._on_notice = on_notice or (lambda text: None)
        self._progress = progress
        self._wall_clock = wall_clock
        self._examining: bool | None = options.confidential
        self._round: Round | None = None
        self.office: str | None = None
        #: the service has the event feed (None: not known yet)
        self.feed: bool | None = None
        #: the feed told of something since the service was last asked (or it could not say)
        self._news = True
        self._asked_at: float | None = None

    # ------------------------------------------------------------------ the loop

    def start(self) -> str:
        """Check the state file belongs to this client's office (asked of ``/pingMe``)."""
        office = self.client.office()
        kept = self.state.setting("office")
        if kept is None:
            self.state.set_setting("office", office)
        elif kept != office:
            raise StateError(
                f"{self.state.path} is the state of office {kept}, and this profile's client is of office {office}: "
                "give each office its own --state file"
            )
        self.office = office
        return office

    def round(self) -> Round:
        if self.office is None:
            self.start()
        self._round = done = Round()
        steps: list[tuple[str, Callable[[], None]]] = [("outbox", self._send_outbox)]
        now = time.monotonic()
        if self._news or self.feed is not True or self._asked_at is None or now - self._asked_at >= FULL_ROUND_SECONDS:
            self._news, self._asked_at = False, now
            steps += [("imports", self._follow_imports), ("requests", self._follow_requests),
                      ("publications", self._publications)]  # fmt: skip
        for name, step in steps:
            try:
                step()
            except Exception as exc:
                if not passing(exc):
                    raise
                done.problems.append((name, exc))
                self._news = True  # ask again next round, news or not
                self._on_notice(f"{name}: {exc}; tried again in the next round")
        self.run_hooks()
        self._round = None
        return done

    def run(self, interval: float, stop: threading.Event) -> None:
        """Rounds every ``interval`` seconds until ``stop`` is set; after failing rounds the
        wait doubles (up to 10 minutes) and comes back to ``interval`` after a good one.
        The wait is a long poll of the event feed where there is one (see the module)."""
        wait = interval
        while not stop.is_set():
            done = self.round()
            wait = min(max(wait * 2, interval), 600.0) if done.problems else interval
            self.wait_for_news(wait, stop)

    # ------------------------------------------------------------------ the event feed

    def wait_for_news(self, seconds: float, stop: threading.Event) -> bool:
        """Wait ``seconds`` (or until ``stop``) on the event feed; True as soon as it has an
        event past the kept cursor. Without a feed (or when it fails), a plain wait after
        which the next round asks the service."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            remaining = deadline - time.monotonic()
            if self.feed is False:
                stop.wait(max(remaining, 0))
                return False
            try:
                news = self._poll_feed(min(remaining, FEED_POLL_SECONDS) if remaining >= 1 else 0)
            except (APIError, httpx.TransportError) as exc:
                if isinstance(exc, APIError) and exc.status in (404, 405):
                    self.feed = False  # a service without the feed: every round asks
                elif isinstance(exc, APIError) and exc.status == 410:
                    self.state.set_setting("feed_cursor", "")  # past retention: start again (the next round asks)
                elif not passing(exc):
                    raise
                self._news = True
                stop.wait(max(deadline - time.monotonic(), 0))
                return False
            self.feed = True
            if news:
                self._news = True
                return True
            if remaining < 1:
                stop.wait(max(remaining, 0))
                return False
        return False

    def _poll_feed(self, wait: float) -> bool:
        cursor = self.state.setting("feed_cursor") or None
        params: dict[str, Any] = {"wait": int(wait), "limit": 100}
        if cursor is not None:
            params["after"] = cursor
        response = self.client.request("GET", "/events", params=params, accept="application/json", timeout=wait + 15)
        body = response.json()
        if body.get("cursor") and body["cursor"] != cursor:
            self.state.set_setting("feed_cursor", str(body["cursor"]))
        return bool(body.get("events"))

    # ------------------------------------------------------------------ recording

    def _record(self, key: str, type: str, payload: dict[str, Any], change: Callable[[Any], None] | None = None) -> None:
        with self.state.transaction() as db:
            if change is not None:
                change(db)
            event = self.state.add_event(db, key, type, payload, hook=self.options.hook is not None)
        if event is not None:
            if self._round is not None:
                self._round.events.append(event)
            self._on_event(event)

    def _ended(self, kind: str, id: str, state: str, *, final: bool = True) -> Callable[[Any], None]:
        """The change that records ``state`` for a followed item (in the event's transaction)."""

        def change(db: Any) -> None:
            self.state.set_state(db, kind, id, state, final=final)

        return change

    # ------------------------------------------------------------------ 1. outbox

    def _send_outbox(self) -> None:
        outbox = self.options.outbox
        if outbox is None:
            return
        now = self._wall_clock() if self._wall_clock else None
        for path in sorted(p for p in outbox.glob("*.zip") if p.is_file()):
            if now is not None and now - path.stat().st_mtime < self.options.settle_seconds:
                continue  # still being written, perhaps: the next round
            self._send(path)

    def _send(self, path: Path) -> None:
        assert self.options.outbox is not None
        digest = file_sha256(path)
        known = self.state.import_of_package(digest)
        if known is not None:
            self._on_notice(f"{path.name}: sent before as import {known.id}; moved to sent/ without sending again")
            self._move(path, "sent")
            return
        try:
            status = self.client.submit(path, idempotency_key=f"hws-watch-{digest}")
        except APIError as exc:
            if transient(exc) or exc.status in (401, 403):
                raise
            moved = self._move(path, "refused")
            moved.with_name(moved.name + ".problem.txt").write_text(f"{exc}\n", "utf-8")
            self._record(
                f"package:{digest}:refused",
                "package.refused",
                {"package": path.name, "path": str(moved), "sha256": digest, "http_status": exc.status,
                 "code": exc.code, "detail": exc.detail or exc.title},
            )  # fmt: skip
            return

        def follow(db: Any) -> None:
            self.state.follow("import", status.import_id, package=path.name, sha256=digest)

        self._record(
            f"package:{digest}:{status.import_id}",
            "package.submitted",
            {"package": path.name, "sha256": digest, "size": status.package_size, "import_id": status.import_id},
            follow,
        )
        self._move(path, "sent")

    def _move(self, path: Path, folder: str) -> Path:
        assert self.options.outbox is not None
        into = self.options.outbox / folder
        into.mkdir(exist_ok=True)
        target = _free_name(into, path.name)
        os.replace(path, target)
        return target

    # ------------------------------------------------------------------ 2. imports

    def _not_found(self, item: Followed, exc: APIError) -> None:
        """A followed identifier the service does not know (404): an event, and no more asking."""
        if exc.status != 404:
            raise exc
        named = {"import_id": item.id, "package": item.package} if item.kind == "import" else {"srn": item.id}
        self._record(
            f"{item.kind}:{item.id}:not-found",
            f"{item.kind}.not-found",
            {**named, "detail": exc.detail or exc.title},
            self._ended(item.kind, item.id, "NotFound"),
        )

    def _follow_imports(self) -> None:
        for item in self.state.open_items("import"):
            try:
                status = self.client.import_status(item.id)
            except APIError as exc:
                self._not_found(item, exc)
                continue
            if str(status.status) == item.state:
                continue
            if not status.finished:
                with self.state.transaction() as db:
                    self.state.set_state(db, "import", item.id, str(status.status), final=False)
                continue
            payload: dict[str, Any] = {
                "import_id": status.import_id,
                "status": str(status.status),
                "package": item.package,
                "office_reference": status.office_reference,
                "transaction": status.transaction,
            }
            if status.imported:
                payload["srn"] = status.srn
            else:
                payload["problems"] = [
                    {"code": p.code, "severity": p.severity, "message": p.message, "where": p.where} for p in status.problems
                ]
                payload["errors"] = sum(1 for p in status.problems if p.severity == "error")

            def change(db: Any, status: Any = status) -> None:
                self.state.set_state(db, "import", status.import_id, str(status.status), final=True)
                if status.imported and status.srn:
                    self.state.follow("request", status.srn)

            self._record(f"import:{status.import_id}:{status.status}", f"import.{str(status.status).lower()}", payload, change)

    # ------------------------------------------------------------------ 3. service requests

    def _follow_requests(self) -> None:
        for item in self.state.open_items("request"):
            try:
                status = self.client.request_status(item.id)
            except APIError as exc:
                self._not_found(item, exc)
                continue
            current = str(status.status)
            if current == item.state:
                continue
            final = Status(status.status).final
            payload = {
                "srn": status.srn,
                "status": current,
                "previous": item.state,
                "final": final,
                "irn": status.irn,
                "expected_publication": status.expected_publication.isoformat() if status.expected_publication else None,
                "regularization_deadline": (
                    status.regularization_deadline.isoformat() if status.regularization_deadline else None
                ),
                "office_reference": status.office_reference,
                "transaction": status.transaction,
                "last_change": status.last_change.isoformat(),
            }
            self._record(
                f"request:{status.srn}:{current}:{status.last_change.isoformat()}",
                "request.status",
                payload,
                self._ended("request", status.srn, current, final=final),
            )

    # ------------------------------------------------------------------ 4. publications

    def _kinds(self) -> list[str]:
        kinds = [BULLETIN]
        if self._examining is not False:
            kinds.append(CONFIDENTIAL)
        return kinds

    def _listing(self, kind: str) -> list[Publication] | None:
        try:
            return self.client.list_publications(kind)
        except APIError as exc:
            if kind == CONFIDENTIAL and exc.status == 403 and self.options.confidential is None:
                self._examining = False
                self._on_notice(f"no confidential copies: {exc.detail or exc.title} (only bulletins are downloaded)")
                return None
            raise

    def _since(self, kind: str, listed: list[Publication]) -> str:
        name = f"since:{kind}"
        if self.options.since is not None:
            if self.state.setting(name) != self.options.since:
                self.state.set_setting(name, self.options.since)
            return self.options.since
        kept = self.state.setting(name)
        if kept is None:
            # first run: the newest week published now, and every one after it
            kept = max((p.week for p in listed), default="")
            self.state.set_setting(name, kept)
        return kept

    def _publications(self) -> None:
        for kind in self._kinds():
            listed = self._listing(kind)
            if listed is None:
                continue
            since = self._since(kind, listed)
            for publication in sorted(listed, key=lambda p: p.week):
                if publication.week < since or self.state.downloaded(kind, publication.week):
                    continue
                self._download(kind, publication)

    def _download(self, kind: str, publication: Publication) -> None:
        label = f"{kind} {publication.week}"
        progress = self._progress
        result = self.client.download(
            kind,
            publication.week,
            self.options.out_dir,
            progress=(lambda done, total: progress(label, done, total)) if progress else None,
        )
        if result.sha256 != publication.sha256:
            raise DownloadError(
                f"{result.path}: sha-256 {result.sha256} is not the listed {publication.sha256} of {label}; "
                "the file is kept for inspection and not recorded"
            )
        payload = {
            "kind": kind,
            "week": publication.week,
            "path": str(result.path),
            "size": result.size,
            "sha256": result.sha256,
            "publication_date": publication.publication_date.isoformat(),
            "bulletin_number": publication.bulletin_number,
            "registrations": publication.registrations,
            "decisions": publication.decisions,
            "outcome": result.outcome,
            "resumed_from": result.resumed_from,
        }

        def change(db: Any) -> None:
            self.state.add_download(db, kind, publication.week, str(result.path), result.size, result.sha256)

        self._record(f"{kind}:{publication.week}", f"{kind}.downloaded", payload, change)

    # ------------------------------------------------------------------ 5. hooks

    def run_hooks(self) -> None:
        hook = self.options.hook
        if hook is None:
            return
        for event in self.state.pending_hooks():
            outcome = hook.run(event)
            give_up = not outcome.ok and event.hook_attempts + 1 >= self.options.hook_attempts
            self.state.hook_ran(event.seq, ok=outcome.ok, error=outcome.error, give_up=give_up)
            if self._round is not None:
                self._round.hooks_run += 1
                self._round.hooks_failed += 0 if outcome.ok else 1
            if not outcome.ok:
                attempts = event.hook_attempts + 1
                then = "given up" if give_up else "tried again in the next round"
                self._on_notice(f"hook for {event.type} {event.key} failed (attempt {attempts}): {outcome.error}; {then}")
