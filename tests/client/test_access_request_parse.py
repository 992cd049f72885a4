"""Reading WIPO's access request form back (``access_request.parse``): what the kit
renders (Markdown or JSON) round-trips; hostile or damaged forms are refused with an
``AccessRequestError`` naming the line and field — and nothing else is ever raised."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hws.client.access_request import (
    UPDATE_ITEMS,
    AccessRequest,
    AccessRequestError,
    parse,
    render,
    render_json,
)
from hws.domain.scopes import ALL_SCOPES
from hws.keys.certificates import CertificateInfo, read_certificate
from tests.support.certificates import self_signed
from tests.support.jose import new_ec_key, new_rsa_key

CERTIFICATES = [
    read_certificate(self_signed(new_ec_key())),
    read_certificate(self_signed(new_ec_key(), cn="KIPO | Hague \\ API [x]")),
    read_certificate(self_signed(new_rsa_key())),
]
OTHER = read_certificate(self_signed(new_ec_key()))


def example(**changes: Any) -> AccessRequest:
    values: dict[str, Any] = {
        "application_name": "KIPO Hague",
        "application_description": "Indirect filings",
        "business_owner": "Kim",
        "business_owner_email": "kim@example.org",
        "technical_contact": "Lee",
        "technical_contact_email": "lee@example.org",
        "ip_ranges": ["203.0.113.0/24", "198.51.100.4/32"],
        "certificate": CERTIFICATES[0],
    }
    return AccessRequest(**{**values, **changes})


# Strategies ----------------------------------------------------------------------------

printable = st.characters(categories=["L", "M", "N", "P", "S"]) | st.just(" ")
one_line = st.text(printable, min_size=1, max_size=60).map(str.strip).filter(bool)
emails = st.from_regex(r"[a-z0-9._%+|-]{1,20}@[a-z0-9-]{1,20}\.[a-z]{2,6}", fullmatch=True)


@st.composite
def networks(draw: st.DrawFn) -> str:
    address = draw(st.ip_addresses())
    prefix = draw(st.integers(0, address.max_prefixlen))
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))


@st.composite
def requests(draw: st.DrawFn) -> AccessRequest:
    kind = draw(st.sampled_from(["creation", "update"]))
    ticked = draw(st.sets(st.sampled_from(UPDATE_ITEMS))) if kind == "update" else set()
    return AccessRequest(
        application_name=draw(one_line),
        application_description=draw(one_line | st.just("")),
        business_owner=draw(one_line),
        business_owner_email=draw(emails),
        technical_contact=draw(one_line),
        technical_contact_email=draw(emails),
        ip_ranges=draw(st.lists(networks(), min_size=1, max_size=4, unique=True)),
        certificate=draw(st.sampled_from(CERTIFICATES)),
        request_type=kind,
        updated=[item for item in UPDATE_ITEMS if item in ticked],
        environment=draw(st.sampled_from(["Production", "Acceptance"]) | one_line),
        api_urls=draw(st.lists(st.from_regex(r"https://[a-z0-9.-]{1,20}/[A-Za-z0-9/_.|-]{0,20}", fullmatch=True), max_size=3)),
        audience=draw(st.sampled_from(["internal", "external"])),
        scopes=" ".join(draw(st.lists(st.sampled_from(ALL_SCOPES), unique=True))),
    )


def parse_or_refuse(text: str | bytes) -> None:
    """Whatever the input: an AccessRequest or AccessRequestError, nothing else."""
    try:
        result = parse(text)
    except AccessRequestError as exc:
        assert str(exc)  # a message, always
    else:
        assert isinstance(result, AccessRequest) and isinstance(result.certificate, CertificateInfo)


# Round trips ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(requests())
def test_render_then_parse_gives_the_request_back(request: AccessRequest) -> None:
    assert parse(render(request)) == request
    assert parse(render_json(request)) == request
    assert parse(render(request).encode("utf-8")) == request


def test_the_kit_s_form_reads_back() -> None:
    request = example(request_type="update", updated=["ip", "certificate"], api_urls=["https://kipo.example/hague"])
    parsed = parse(render(request))
    assert parsed == request and parsed.certificate.kid == CERTIFICATES[0].kid
    assert parse("\ufeff" + render(request).replace("\n", "\r\n")) == request  # a BOM, Windows line ends


# Hostile input: only AccessRequestError ------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text() | st.binary())
def test_arbitrary_input_only_raises_the_form_error(text: str | bytes) -> None:
    parse_or_refuse(text)


@st.composite
def damaged(draw: st.DrawFn) -> str:
    """A rendered form with a few random edits: lines dropped, repeated or swapped,
    characters replaced, text inserted, the end cut off."""
    lines = render(draw(requests())).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["drop", "repeat", "swap", "replace", "insert", "cut"]))
        if edit == "drop":
            del lines[where]
        elif edit == "repeat":
            lines.insert(where, lines[where])
        elif edit == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[where], lines[other] = lines[other], lines[where]
        elif edit == "replace" and lines[where]:
            at = draw(st.integers(0, len(lines[where]) - 1))
            lines[where] = lines[where][:at] + draw(st.sampled_from("|\\[]x-`, /@\n")) + lines[where][at + 1 :]
        elif edit == "insert":
            lines.insert(where, draw(st.text(max_size=40)))
        elif edit == "cut":
            lines = lines[:where]
        if not lines:
            lines = [""]
    return "\n".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(damaged())
def test_damaged_forms_only_raise_the_form_error(text: str) -> None:
    parse_or_refuse(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(requests(), st.dictionaries(st.sampled_from([*json.loads(render_json(example())), "extra"]), json_values, max_size=3))
def test_json_forms_with_wrong_values_only_raise_the_form_error(request: AccessRequest, changes: dict[str, Any]) -> None:
    document = {**json.loads(render_json(request)), **changes}
    parse_or_refuse(json.dumps(document))


def test_deep_json_is_refused() -> None:
    with pytest.raises(AccessRequestError, match="not a JSON form"):
        parse('{"a": ' + "[" * 50_000 + "]" * 50_000 + "}")  # RecursionError in json, not out of parse


# Errors name the line and the field ------------------------------------------------------------


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "field", "message"),
    [
        ("198.51.100.4/32", "198.51.100.400", "CLIENT IP/IP RANGE", "not an IP address or CIDR range: '198.51.100.400'"),
        ("kim@example.org", "kim at example", "Application Business Owner Mail", "not an e-mail address"),
        ("Creation request [x]  Update request [ ]", "Creation request [x]  Update request [x]", "Request Type?", "exactly one"),
        ("External people [x]", "External people [?]", "Who will access the application?", "check boxes"),
        (
            "| Supported scopes (optional) | By default profile |",
            "| Supported scopes (optional) | hws/all |",
            "Supported scopes (optional)",
            "unknown scope 'hws/all'",
        ),
        ("Contact information [ ]", "Contact information [x]", "Describe the updated information", "creation request"),
        (
            "| Application Technical Contact Name | Lee |",
            "| Application Technical Contact Name |  |",
            "Application Technical Contact Name",
            "must be filled in",
        ),
    ],
)
def test_a_bad_value_is_named_with_its_line(old: str, new: str, field: str, message: str) -> None:
    text = render(example())
    assert old in text
    text = text.replace(old, new)
    with pytest.raises(AccessRequestError) as caught:
        parse(text)
    assert caught.value.field == field and caught.value.line == line_of(text, new)
    assert str(caught.value).startswith(f"line {caught.value.line}, {field}: ") and message in str(caught.value)


def test_structure_errors() -> None:
    text = render(example())
    row = "| Environment | Production |"
    cases = {
        "missing from the form": text.replace(row + "\n", ""),
        "given twice (first on line": text.replace(row, row + "\n" + row),
        "not a row of the form: 'Favourite colour'": text.replace(row, row + "\n| Favourite colour | blue |"),
        "two cells": text.replace(row, "| Environment | Production | extra |"),
        "ends with '|'": text.replace(row, "| Environment | Production"),
        "is not closed": text.rstrip().removesuffix("```"),
        "no certificate attached": text[: text.index("```")],
        "a second certificate": text + "\n```\n" + OTHER.pem + "```\n",
        "not an x509 certificate": text.replace(CERTIFICATES[0].pem.splitlines()[3], "AAAA"),
    }
    for message, broken in cases.items():
        with pytest.raises(AccessRequestError, match=message.replace("(", r"\(").replace("|", r"\|")):
            parse(broken)


def test_the_stated_thumbprint_must_be_the_attached_certificate_s() -> None:
    text = render(example()).replace(CERTIFICATES[0].pem.strip(), OTHER.pem.strip())
    with pytest.raises(AccessRequestError, match="is it the right certificate") as caught:
        parse(text)
    assert caught.value.field == "CERTIFICATE (X509V3 – ES256)"


def test_size_and_encoding_limits() -> None:
    with pytest.raises(AccessRequestError, match="larger than"):
        parse("x" * 300_000)
    with pytest.raises(AccessRequestError, match="larger than"):
        parse(b"x" * 300_000)
    with pytest.raises(AccessRequestError, match="not UTF-8"):
        parse(render(example()).encode("utf-16"))


def test_json_errors_name_the_field() -> None:
    good = json.loads(render_json(example()))
    for change, field, message in [
        ({"ip_ranges": "203.0.113.0/24"}, "ip_ranges", "list of strings"),
        ({"business_owner": 7}, "business_owner", "must be a string"),
        ({"request_type": "deletion"}, "request_type", "must be one of creation, update"),
        ({"updated": ["everything"]}, "updated", "unknown item 'everything'"),
        ({"colour": "blue"}, "colour", "unknown field"),
        ({"certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----"}, "certificate", "x509"),
    ]:
        with pytest.raises(AccessRequestError, match=message) as caught:
            parse(json.dumps({**good, **change}))
        assert caught.value.field == field and caught.value.line is None
    del good["technical_contact_email"]
    with pytest.raises(AccessRequestError, match="technical_contact_email: missing"):
        parse(json.dumps(good))
    with pytest.raises(AccessRequestError, match="an object"):
        parse("[1, 2]")
    with pytest.raises(AccessRequestError, match="not JSON"):
        parse('{"business_owner": NaN}')


def test_json_defaults_for_optional_fields() -> None:
    minimal = {k: v for k, v in json.loads(render_json(example())).items() if k not in ("environment", "updated", "scopes")}
    assert parse(json.dumps(minimal)) == example()
    assert replace(example(), scopes="hws/requests") == parse(render_json(replace(example(), scopes="hws/requests")))
