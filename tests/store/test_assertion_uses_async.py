"""The async single-use path shares the group commit with threads: one winner always."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hws.store import assertion_uses
from tests.conftest import make_service


def test_async_and_threaded_callers_share_one_winner(tmp_path: Path, database_url: str) -> None:
    service = make_service(tmp_path, database_url)
    try:

        async def many(key: str) -> list[bool]:
            return list(
                await asyncio.gather(*(assertion_uses.record_first_use_async(service.engine, key, 2000, 1000) for _ in range(50)))
            )

        assert sorted(asyncio.run(many("a" * 64))) == [False] * 49 + [True]

        # async callers on two loops and threaded callers, all for the same key at once
        def in_loop(_: int) -> list[bool]:
            return asyncio.run(many("b" * 64))

        def in_thread(_: int) -> bool:
            return assertion_uses.record_first_use(service.engine, "b" * 64, 2000, 1000)

        with ThreadPoolExecutor(6) as pool:
            loops = [pool.submit(in_loop, i) for i in range(2)]
            threads = [pool.submit(in_thread, i) for i in range(20)]
            results = [r for f in loops for r in f.result()] + [f.result() for f in threads]
        assert results.count(True) == 1

        # distinct keys all win, each exactly once
        async def distinct() -> list[bool]:
            return list(
                await asyncio.gather(
                    *(assertion_uses.record_first_use_async(service.engine, f"{i:064d}", 2000, 1000) for i in range(40))
                )
            )

        assert asyncio.run(distinct()) == [True] * 40
    finally:
        service.close()


def test_a_cancelled_async_caller_does_not_stall_the_others(tmp_path: Path, sqlite_url: str) -> None:
    service = make_service(tmp_path, sqlite_url)
    try:

        async def scenario() -> list[bool]:
            tasks = [
                asyncio.create_task(assertion_uses.record_first_use_async(service.engine, f"{i:064d}", 2000, 1000))
                for i in range(30)
            ]
            await asyncio.sleep(0)
            for task in tasks[5:15]:
                task.cancel()
            done = await asyncio.gather(*tasks, return_exceptions=True)
            after = await asyncio.wait_for(assertion_uses.record_first_use_async(service.engine, "z" * 64, 2000, 1000), 10)
            return [r for r in done if isinstance(r, bool)] + [after]

        results = asyncio.run(scenario())
        assert all(results) and results[-1] is True
    finally:
        service.close()


def test_the_issuance_audit_row_reads_back_as_written(tmp_path: Path, database_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from hws.store.audit import AuditEvent
    from hws.store.tables import audit_events

    service = make_service(tmp_path, database_url)
    try:
        at = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)
        event = AuditEvent(at=at, actor="kr-1", action="auth.token", outcome="issued", office="KR", source="127.0.0.1",
                           detail={"scope": "a b", "kid": "k"})  # fmt: skip
        assert assertion_uses.record_first_use(service.engine, "c" * 64, 2000, 1000, event.row())
        assert not assertion_uses.record_first_use(service.engine, "c" * 64, 2000, 1000, event.row())  # no second row
        with service.engine.connect() as conn:
            rows = conn.execute(select(audit_events).where(audit_events.c.actor == "kr-1")).all()
        assert len(rows) == 1
        row = rows[0]
        assert (row.at, row.office, row.action, row.target, row.outcome, row.source) == (
            at,
            "KR",
            "auth.token",
            None,
            "issued",
            "127.0.0.1",
        )
        assert row.detail == event.row()["detail"]
    finally:
        service.close()


def test_a_loop_closed_before_its_leader_hands_over_does_not_stall_the_others(tmp_path: Path, sqlite_url: str) -> None:
    """An async leader hands its turn over at the end of its loop's pass; a loop stopped
    and closed before that pass ends still hands it over (its use is committed), so the
    next caller of the group is not left waiting."""
    service = make_service(tmp_path, sqlite_url)
    try:
        loop = asyncio.new_event_loop()
        task = loop.create_task(assertion_uses.record_first_use_async(service.engine, "c" * 64, 2000, 1000))
        loop.call_soon(loop.stop)  # one pass: the leader schedules its hand-over, which never runs
        loop.run_forever()
        assert not task.done()
        loop.close()
        results: list[bool] = []
        later = threading.Thread(
            target=lambda: results.append(assertion_uses.record_first_use(service.engine, "d" * 64, 2000, 1000)),
            daemon=True,  # left behind if the group stalls: the assertion below fails instead of hanging
        )
        later.start()
        later.join(timeout=30)
        assert results == [True]
        assert assertion_uses.record_first_use(service.engine, "c" * 64, 2000, 1000) is False  # committed
        del task
    finally:
        service.close()
