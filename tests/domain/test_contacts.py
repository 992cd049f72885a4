"""E-mail addresses as far as hws checks them: one "@" with something on each side (at most
64 characters before it), a dot in the domain with no empty label, no blanks or controls."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hws.domain.contacts import is_email


@pytest.mark.parametrize(
    "value",
    [
        "ip@acme.example",
        "first.last+hague@mail.kipo.go.kr",
        "a@b.c",
        "x" * 64 + "@example.com",
        "o'brien@example.ie",
        "名前@例え.jp",  # internationalised: the office's mail server decides
        "user@[192.0.2.1].x",  # not a literal we understand, but nothing our rule refuses
    ],
)
def test_addresses_that_pass(value: str) -> None:
    assert is_email(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "@",
        "ip.acme.example",  # no @
        "@acme.example",  # nothing before it
        "ip@",  # nothing after it
        "ip@localhost",  # no dot in the domain
        "ip@@acme.example",
        "ip@acme@example.com",
        "x" * 65 + "@example.com",  # more than 64 before the @
        "ip@.example",  # an empty label
        "ip@acme..example",
        "ip@acme.example.",
        "ip @acme.example",  # blanks
        "ip@acme .example",
        " ip@acme.example",
        "ip@acme.example\n",  # a trailing newline is not ignored
        "ip@acme.example\r\nBcc: x@y.z",  # header injection
        "ip\t@acme.example",
        "ip\u00a0@acme.example",  # a no-break space is a blank
        "ip\u2003@acme.example",
    ],
)
def test_addresses_that_do_not(value: str) -> None:
    assert not is_email(value)


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\x7f"])
def test_control_characters_do_not_pass(control: str) -> None:
    assert not is_email(f"ip{control}@acme.example")


label = st.text(alphabet=st.characters(blacklist_characters="@.", blacklist_categories=("Z", "C")), min_size=1, max_size=10)
local = st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=("Z", "C")), min_size=1, max_size=64)


@given(local, st.lists(label, min_size=2, max_size=4))
def test_any_local_part_and_dotted_domain_pass(local_part: str, labels: list[str]) -> None:
    assert is_email(f"{local_part}@{'.'.join(labels)}")


@given(local, st.lists(label, min_size=2, max_size=4), st.sampled_from(" \t\n\r\u00a0\u2028\u3000"), st.data())
def test_a_blank_anywhere_fails(local_part: str, labels: list[str], blank: str, data: st.DataObject) -> None:
    address = f"{local_part}@{'.'.join(labels)}"
    at = data.draw(st.integers(0, len(address)))
    assert not is_email(address[:at] + blank + address[at:])


@given(st.text(max_size=40))
def test_without_exactly_one_at_sign_nothing_passes(value: str) -> None:
    if value.count("@") != 1:
        assert not is_email(value)
    assert not is_email(value.replace("@", ""))
    assert not is_email(value + "@" + value + "@x.y")


@given(st.text(alphabet=st.characters(blacklist_characters="@", blacklist_categories=("Z", "C")), min_size=65, max_size=90))
def test_more_than_64_characters_before_the_at_sign_fail(local_part: str) -> None:
    assert not is_email(f"{local_part}@example.com")
