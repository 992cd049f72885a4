"""The service's signing keys: created once, mode 0600, rotated, pruned after grace."""

from __future__ import annotations

import stat
from pathlib import Path

from hws.auth.keyring import Keyring
from hws.domain.clock import FixedClock


def test_created_once_with_private_mode(tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    ring = Keyring(tmp_path, clock, grace=100)
    ring.ensure()
    ring.ensure()
    files = list((tmp_path / "service").glob("*.pem"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "service").stat().st_mode) == 0o700
    assert Keyring(tmp_path, clock, grace=100).published()[0].kid == ring.active.kid


def test_rotation_keeps_old_key_for_grace_then_prunes(tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    ring = Keyring(tmp_path, clock, grace=100)
    ring.ensure()
    old = ring.active.kid
    new = ring.rotate().kid
    assert ring.active.kid == new
    assert [k["kid"] for k in ring.jwks()["keys"]] == [new, old]
    clock.advance(99)
    other = Keyring(tmp_path, clock, grace=100)  # another process sees the same
    assert other.get(old) is not None
    clock.advance(5)
    other._reload(force=True)
    assert other.get(old) is None and [k.kid for k in other.published()] == [new]
    assert len(list((tmp_path / "service").glob("*.pem"))) == 1


def test_a_process_sees_a_rotation_made_elsewhere(tmp_path: Path) -> None:
    clock = FixedClock(1_800_000_000)
    first = Keyring(tmp_path, clock, grace=100)
    first.ensure()
    second = Keyring(tmp_path, clock, grace=100)
    second.ensure()
    rotated = second.rotate()
    assert first.get(rotated.kid) is not None
