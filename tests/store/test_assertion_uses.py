"""Single use of assertions: atomic on both databases, expired rows purged or taken over."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hws.store import assertion_uses
from tests.conftest import make_service


def test_first_use_wins_under_contention(tmp_path: Path, database_url: str) -> None:
    service = make_service(tmp_path, database_url)
    try:
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: assertion_uses.record_first_use(service.engine, "k" * 64, 2000, 1000), range(64)))
        assert results.count(True) == 1
        assert not assertion_uses.record_first_use(service.engine, "k" * 64, 2000, 1999)
        # After its time the key may be used again (the old assertion cannot be valid).
        assert assertion_uses.record_first_use(service.engine, "k" * 64, 3000, 2001)
        assert assertion_uses.record_first_use(service.engine, "j" * 64, 1500, 1000)
        assert assertion_uses.purge_expired(service.engine, 2500) == 1
    finally:
        service.close()
