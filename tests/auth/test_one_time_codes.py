"""TOTP (RFC 6238): the RFC's own test vector, one step of drift either way, single use."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from hws.auth import one_time_codes

# RFC 6238 Appendix B: the SHA-1 seed "12345678901234567890"; at 59 s the 8-digit code is
# 94287082, so the six-digit code is its last six digits
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
AT_59 = datetime.fromtimestamp(59, UTC)


def test_rfc_6238_vector() -> None:
    assert one_time_codes.code_at(RFC_SECRET, AT_59) == "287082"
    assert one_time_codes.code_at(RFC_SECRET, datetime.fromtimestamp(1111111109, UTC)) == "081804"


def test_drift_of_one_step_either_way() -> None:
    now = datetime.fromtimestamp(1_800_000_000, UTC)
    step = 1_800_000_000 // 30
    for offset in (-1, 0, 1):
        code = one_time_codes.code_at(RFC_SECRET, datetime.fromtimestamp((step + offset) * 30, UTC))
        assert one_time_codes.matching_step(RFC_SECRET, code, now) == step + offset
    far = one_time_codes.code_at(RFC_SECRET, datetime.fromtimestamp((step + 2) * 30, UTC))
    assert one_time_codes.matching_step(RFC_SECRET, far, now) is None


def test_a_used_step_is_refused() -> None:
    now = datetime.fromtimestamp(1_800_000_000, UTC)
    code = one_time_codes.code_at(RFC_SECRET, now)
    step = one_time_codes.matching_step(RFC_SECRET, code, now)
    assert step is not None
    assert one_time_codes.matching_step(RFC_SECRET, code, now, after_step=step) is None


def test_spaces_allowed_other_shapes_refused() -> None:
    code = one_time_codes.code_at(RFC_SECRET, AT_59)
    assert one_time_codes.matching_step(RFC_SECRET, f"{code[:3]} {code[3:]}", AT_59) is not None
    for bad in ("", "12345", "1234567", "abcdef", "２８７０８２"):
        assert one_time_codes.matching_step(RFC_SECRET, bad, AT_59) is None


@given(st.text(max_size=12))
def test_arbitrary_input_never_raises(text: str) -> None:
    one_time_codes.matching_step(RFC_SECRET, text, AT_59)


def test_provisioning_uri_names_the_account_and_issuer() -> None:
    uri = one_time_codes.provisioning_uri(RFC_SECRET, "ana")
    assert uri.startswith("otpauth://totp/") and "ana" in uri and f"secret={RFC_SECRET}" in uri and "issuer=hws" in uri
