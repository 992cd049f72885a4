"""Published weeks in the store: each (kind, week, office) written once and immutable, a
week with nothing to publish recorded without a file, and the readings the API and the
scheduler make (one publication, the listing newest first, the latest week, a whole week)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from hws.domain.weeks import Week
from hws.store import imports
from hws.store import publications as pubs
from hws.store.publications import BULLETIN, CONFIDENTIAL, Publication

AT = datetime(2027, 1, 1, 11, 0, tzinfo=UTC)  # Friday noon in Geneva of ISO week 2026-W53
W53 = Week(2026, 53).id  # "202653"
W01 = Week(2027, 1).id  # "202701"


CLOCK_AT = AT  # the service's clock (tests/store/conftest.py)


def stored(engine: Engine, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    with engine.begin() as conn:
        imports.reference_blob(conn, digest, len(data), AT)
    return digest


def publish(engine: Engine, record: Publication) -> bool:
    with engine.begin() as conn:
        return pubs.insert(conn, record)


def bulletin(engine: Engine, week: str, data: bytes | None, registrations: int = 1) -> Publication:
    digest = stored(engine, data) if data is not None else None
    return Publication(BULLETIN, week, "", digest, len(data or b""), registrations, 0, AT)


def copy(engine: Engine, week: str, office: str, data: bytes) -> Publication:
    return Publication(CONFIDENTIAL, week, office, stored(engine, data), len(data), 1, 2, AT)


def test_a_publication_is_written_once_and_never_replaced(both_engines: Engine) -> None:
    first = bulletin(both_engines, W53, b"bulletin of 2026-W53")
    assert publish(both_engines, first)
    assert pubs.get(both_engines, BULLETIN, W53) == first
    again = replace(bulletin(both_engines, W53, b"other bytes", registrations=9), published_at=AT.replace(hour=12))
    assert not publish(both_engines, again)  # the week is already published
    assert pubs.get(both_engines, BULLETIN, W53) == first


def test_the_key_is_kind_week_and_office(both_engines: Engine) -> None:
    assert publish(both_engines, bulletin(both_engines, W53, b"b"))
    assert publish(both_engines, copy(both_engines, W53, "US", b"us"))
    assert publish(both_engines, copy(both_engines, W53, "JP", b"jp"))
    assert publish(both_engines, bulletin(both_engines, W01, b"b2"))
    assert not publish(both_engines, copy(both_engines, W53, "US", b"us again"))
    assert pubs.get(both_engines, CONFIDENTIAL, W53, "US") is not None
    assert pubs.get(both_engines, CONFIDENTIAL, W53) is None  # the bulletin's office is ""
    assert pubs.get(both_engines, BULLETIN, W53, "US") is None
    assert pubs.get(both_engines, BULLETIN, "202652") is None


def test_an_empty_week_is_recorded_without_a_file(engine: Engine) -> None:
    empty = bulletin(engine, W53, None, registrations=0)
    assert publish(engine, empty)
    found = pubs.get(engine, BULLETIN, W53)
    assert found == empty and found.sha256 is None and found.size == 0
    assert pubs.listing(engine, BULLETIN) == []  # nothing to download
    assert pubs.latest_week(engine) == W53  # but the week is done


def test_a_file_must_be_a_recorded_blob(engine: Engine) -> None:
    orphan = Publication(BULLETIN, W53, "", "f" * 64, 10, 1, 0, AT)
    with pytest.raises(IntegrityError):
        publish(engine, orphan)
    assert pubs.get(engine, BULLETIN, W53) is None


def test_listing_is_newest_first_per_kind_and_office(engine: Engine) -> None:
    for week, data in (("202652", b"52"), (W01, b"01"), (W53, b"53")):
        publish(engine, bulletin(engine, week, data))
    publish(engine, bulletin(engine, "202702", None, registrations=0))
    publish(engine, copy(engine, W53, "US", b"us53"))
    publish(engine, copy(engine, W01, "US", b"us01"))
    publish(engine, copy(engine, W01, "JP", b"jp01"))
    assert [p.week for p in pubs.listing(engine, BULLETIN)] == [W01, W53, "202652"]
    assert [p.week for p in pubs.listing(engine, CONFIDENTIAL, "US")] == [W01, W53]
    assert [(p.week, p.office) for p in pubs.listing(engine, CONFIDENTIAL, "JP")] == [(W01, "JP")]
    assert pubs.listing(engine, CONFIDENTIAL) == [] and pubs.listing(engine, CONFIDENTIAL, "CH") == []


def test_latest_week_per_kind_across_the_year_end(engine: Engine) -> None:
    assert pubs.latest_week(engine) is None and pubs.latest_week(engine, CONFIDENTIAL) is None
    publish(engine, bulletin(engine, W53, b"53"))
    publish(engine, copy(engine, W01, "US", b"us01"))
    assert pubs.latest_week(engine) == W53
    assert pubs.latest_week(engine, CONFIDENTIAL) == W01
    publish(engine, bulletin(engine, W01, b"01"))
    assert pubs.latest_week(engine, BULLETIN) == W01


def test_for_week_is_the_bulletin_and_every_copy_of_that_week(engine: Engine) -> None:
    publish(engine, copy(engine, W53, "US", b"us"))
    publish(engine, bulletin(engine, W53, b"b"))
    publish(engine, copy(engine, W53, "EM", b"em"))
    publish(engine, bulletin(engine, W01, b"next"))
    assert [(p.kind, p.office) for p in pubs.for_week(engine, W53)] == [
        (BULLETIN, ""),
        (CONFIDENTIAL, "EM"),
        (CONFIDENTIAL, "US"),
    ]
    assert pubs.for_week(engine, "202652") == []


def test_the_etag_is_the_quoted_sha256(engine: Engine) -> None:
    record = bulletin(engine, W53, b"bytes")
    assert record.etag == f'"{hashlib.sha256(b"bytes").hexdigest()}"'
    publish(engine, record)
    found = pubs.get(engine, BULLETIN, W53)
    assert found is not None and found.etag == record.etag and found.published_at == AT
