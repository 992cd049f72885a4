"""The watcher's state file and its hooks, on their own: an event is recorded once, with
its change or not at all; one watcher per file; the hook gets the event on stdin and in
its environment, never in its command line, and is killed (with what it started) after
its timeout."""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hws.client.hooks import Hook, environment
from hws.client.watch_state import Event, StateError, WatchState

T0 = datetime(2026, 12, 31, 23, 59, 56, tzinfo=UTC)  # a year end, in ISO week 53


class Ticking:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_an_event_is_recorded_once_with_its_change(tmp_path: Path) -> None:
    with WatchState(tmp_path / "s.sqlite", clock=Ticking()) as state:
        assert state.follow("import", "01M8ZGJ9V2RCRD5NZF6J2AF9TW", package="a.zip", sha256="ab" * 32)
        assert not state.follow("import", "01M8ZGJ9V2RCRD5NZF6J2AF9TW")
        with state.transaction() as db:
            state.set_state(db, "import", "01M8ZGJ9V2RCRD5NZF6J2AF9TW", "Imported", final=True)
            first = state.add_event(db, "import:x:Imported", "import.imported", {"srn": "970000001"}, hook=True)
        with state.transaction() as db:
            again = state.add_event(db, "import:x:Imported", "import.imported", {"srn": "970000001"}, hook=True)
        assert first is not None and again is None
        assert first.at == "2027-01-01T00:00:02+00:00"  # the injected clock's, not the machine's
        assert [e.key for e in state.pending_hooks()] == ["import:x:Imported"]
        assert state.open_items("import") == []
        assert state.import_of_package("ab" * 32) is not None


def test_a_failed_transaction_leaves_neither_the_change_nor_the_event(tmp_path: Path) -> None:
    with WatchState(tmp_path / "s.sqlite") as state:
        with pytest.raises(KeyboardInterrupt), state.transaction() as db:
            state.add_download(db, "bulletin", "202653", "/x/bulletin-202653.zip", 10, "00" * 32)
            state.add_event(db, "bulletin:202653", "bulletin.downloaded", {"week": "202653"}, hook=True)
            raise KeyboardInterrupt  # killed between the two writes and the commit
        assert not state.downloaded("bulletin", "202653") and state.events() == []


def test_hooks_pending_until_done_or_given_up(tmp_path: Path) -> None:
    with WatchState(tmp_path / "s.sqlite") as state:
        with state.transaction() as db:
            a = state.add_event(db, "a", "x", {}, hook=True)
            b = state.add_event(db, "b", "x", {}, hook=True)
            state.add_event(db, "c", "x", {}, hook=False)  # recorded while no hook was configured
        assert a and b
        state.hook_ran(a.seq, ok=False, error="exit 1", give_up=False)
        state.hook_ran(b.seq, ok=True, error=None, give_up=False)
        assert [(e.key, e.hook_attempts) for e in state.pending_hooks()] == [("a", 1)]
        state.hook_ran(a.seq, ok=False, error="exit 1", give_up=True)
        assert state.pending_hooks() == []
        assert {e.key: e.hook_state for e in state.events()} == {"a": "failed", "b": "done", "c": "none"}


def test_one_watcher_per_state_file(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with WatchState(path):
        with pytest.raises(StateError, match="in use by another hws watch"):
            WatchState(path)
        with WatchState(path, lock=False) as reader:  # hws watch --show reads beside it
            assert reader.events() == []
    WatchState(path).close()  # free again


def test_a_file_that_is_not_a_state_file_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(StateError, match="not an hws watch state file"):
        WatchState(junk)
    newer = tmp_path / "newer.sqlite"
    with sqlite3.connect(newer) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StateError, match="newer hws"):
        WatchState(newer)


def _event(**payload: object) -> Event:
    return Event(7, "bulletin:202653", "bulletin.downloaded", dict(payload), "2026-12-31T23:59:59+00:00", "pending")


def test_the_hook_gets_the_event_on_stdin_and_in_its_environment(tmp_path: Path) -> None:
    seen = tmp_path / "seen"
    hook = Hook(f"cat > {seen}.json; env | grep ^HWS_ | sort > {seen}.env")
    assert hook.run(_event(week="202653", size=10, path="/dl/b.zip", final=True, problems=[{"code": "x"}])).ok
    assert json.loads(seen.with_suffix(".json").read_text()) == {
        "seq": 7, "id": "bulletin:202653", "event": "bulletin.downloaded", "at": "2026-12-31T23:59:59+00:00",
        "week": "202653", "size": 10, "path": "/dl/b.zip", "final": True, "problems": [{"code": "x"}],
    }  # fmt: skip
    env = dict(line.split("=", 1) for line in seen.with_suffix(".env").read_text().splitlines())
    expected = {
        "HWS_EVENT": "bulletin.downloaded", "HWS_EVENT_ID": "bulletin:202653", "HWS_EVENT_SEQ": "7",
        "HWS_WEEK": "202653", "HWS_SIZE": "10", "HWS_PATH": "/dl/b.zip", "HWS_FINAL": "1",
    }  # fmt: skip
    assert {k: env.get(k) for k in expected} == expected
    assert "HWS_PROBLEMS" not in env  # a list is in the JSON only


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=40))
def test_event_values_never_reach_the_shell(tmp_path_factory: pytest.TempPathFactory, value: str) -> None:
    """Whatever the service sends (a reference, a problem's message), it is data for the
    hook, never shell syntax: ``$(...)``, quotes, ``;`` stay as they are."""
    folder = tmp_path_factory.mktemp("hook")
    reference = value + "$(touch pwned);`touch pwned`"
    hook = Hook(f'cd {folder} && printf "%s" "$HWS_OFFICE_REFERENCE" > got')
    assert hook.run(_event(office_reference=reference)).ok
    assert (folder / "got").read_bytes().decode() == environment(_event(office_reference=reference), {})["HWS_OFFICE_REFERENCE"]
    assert environment(_event(office_reference=reference), {})["HWS_OFFICE_REFERENCE"] == reference
    assert not (folder / "pwned").exists() and not Path("pwned").exists()


def test_a_failing_hook_says_why(tmp_path: Path) -> None:
    outcome = Hook("echo 'disk full' >&2; exit 3").run(_event())
    assert not outcome.ok and outcome.error == "the hook exited with status 3: disk full"
    assert Hook("/nonexistent/hook").run(_event()).error.startswith("the hook exited with status 127")  # type: ignore[union-attr]


def test_a_hook_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    started = time.monotonic()
    outcome = Hook(f"(sleep 1; touch {marker}) & sleep 30", timeout=0.3).run(_event())
    assert not outcome.ok and "longer than 0.3 s" in (outcome.error or "")
    assert time.monotonic() - started < 10
    time.sleep(1.5)
    assert not marker.exists()  # the background child was killed too
