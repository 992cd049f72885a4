"""The service requests pages (in process): the list's filters, search and pages; a
request's page (history, files, escaped XML, thumbnails drawn on the server); the
examiner's actions through the Examiner, each audited with the operator and their
address; refusals (viewer, CSRF); hostile reproductions never served as markup."""

from __future__ import annotations

import copy
import io
import random
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from hws.console import requests as requests_page
from hws.console import xml_view
from hws.domain.calendar_rules import regularization_deadline
from hws.domain.clock import FixedClock
from hws.domain.operator_roles import Role
from hws.service import Service
from hws.st96.builder import build_package
from hws.st96.examples import example_package, example_spec
from hws.store import audit
from hws.store import imports as import_store
from hws.store import service_requests as sr_store
from hws.usecases.examination import Examiner
from hws.usecases.intake import record_receipt
from hws.worker.runner import Worker
from tests.conftest import enrol, make_service

START = 1_795_000_000  # 2026-11-18 (the business calendar is fixed; sign-in keeps real time)
HTML_PAYLOAD = b"<html><body><script>alert(document.cookie)</script></body></html>"
SVG_PAYLOAD = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>'


@pytest.fixture
def console_service(tmp_path: Path, sqlite_url: str) -> Iterator[Service]:
    """The console's service with a fixed business calendar (creation dates, deadlines)."""
    service = make_service(tmp_path, sqlite_url, calendar=FixedClock(START), worker_threads=0)
    yield service
    service.close()


def receive(service: Service, package: bytes, office: str = "KR") -> str:
    """Submit ``package`` as an office of ``office`` and import it; its SRN."""
    client = service.registry.get(enrol(service, office=office).client_id)
    assert client is not None
    import_id = record_receipt(service, client, service.blobs.put_bytes(package), None).record.import_id
    worker = Worker(service)
    while worker.run_once():
        pass
    record = import_store.get(service.engine, import_id)
    assert record is not None and record.srn is not None, record.problems if record else None
    return record.srn


def status_of(service: Service, srn: str) -> str:
    sr = sr_store.get(service.engine, srn)
    assert sr is not None
    return sr.status


def stored_file_number(service: Service, srn: str, path: str) -> int:
    names = [f.path for f in sr_store.files(service.engine, srn)]
    return names.index(path) + 1


def png_with_text_after_pixels(text: bytes, side: int = 64) -> bytes:
    """A valid noisy PNG (its pixel data well past the first kilobyte browsers sniff),
    then a tEXt chunk holding ``text`` before IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    noise = random.Random(side)
    raw = b"".join(b"\x00" + noise.randbytes(side) for _ in range(side))
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"tEXt", b"Comment\x00" + text)
        + chunk(b"IEND", b"")
    )


def hostile_request(service: Service, path: str, payload: bytes) -> str:
    """A request whose stored reproduction ``path`` holds ``payload`` (as a record
    stored before imports checked files could hold); its SRN."""
    srn = receive(service, example_package("application", office="KR", office_reference="KR-HOSTILE"))
    sr = sr_store.get(service.engine, srn)
    assert sr is not None
    blob = service.blobs.put_bytes(payload)
    package = service.blobs.put_bytes(b"hostile package " + path.encode())
    client = service.registry.get(sr.client_id)
    assert client is not None
    now = service.calendar.now()
    with service.engine.begin() as conn:
        import_store.reference_blobs(conn, [(blob.sha256, blob.size), (package.sha256, package.size)], now)
        import_store.insert_import(
            conn, import_id="hostile-" + path.replace("/", "-"), client_id=client.client_id, office="KR",
            sha256=package.sha256, size=package.size, now=now,
        )  # fmt: skip
        new_srn = f"970{900000 + len(path):06d}"
        sr_store.create(
            conn,
            srn=new_srn,
            import_id="hostile-" + path.replace("/", "-"),
            client_id=client.client_id,
            content=sr.content,
            files=[sr_store.StoredFile(path, blob.sha256, blob.size, "image/jpeg", "REPRODUCTION")],
            now=now,
        )
    return new_srn


# The list ---------------------------------------------------------------------------------------


def test_list_filters_searches_and_pages(console_service, signed_in, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    korean = receive(service, example_package("application", office="KR", office_reference="KR-2024-0001"))
    french = receive(service, example_package("application", office="FR", office_reference="FR_77%"), office="FR")
    refusal = receive(service, example_package("refusal", office="JP", irn="DM/200001", office_reference="JP-R-9"), office="JP")
    console = signed_in(Role.VIEWER)

    def listed(**params: str) -> list[str]:
        response = console.get("/console/requests", params=params)
        assert response.status_code == 200, response.text
        return [srn for srn in (korean, french, refusal) if f'href="/console/requests/{srn}"' in response.text]

    assert listed() == [korean, french, refusal]
    assert listed(office="fr") == [french]
    assert listed(transaction="HagueRefusalRequest") == [refusal]
    assert listed(status="Undefined") == [korean, french, refusal]
    assert listed(status="Processing") == []
    assert listed(q=korean) == [korean]  # by SRN
    assert listed(q="dm/200001") == [refusal]  # by the IRN it names, any case
    assert listed(q="kr-2024") == [korean]  # by office reference
    assert listed(q="_77%") == [french]  # LIKE wildcards are taken literally
    assert listed(q="7%") == [french]
    assert listed(q="nothing-like-it") == []
    day = service.calendar.now().date()
    assert listed(since=day.isoformat(), until=day.isoformat()) == [korean, french, refusal]
    assert listed(until=(day - timedelta(days=1)).isoformat()) == []
    sr = sr_store.get(service.engine, korean)
    record = import_store.get(service.engine, sr.import_id) if sr else None
    assert record is not None
    received = record.received_at.date()  # the real clock's, not the business calendar's
    assert listed(dated="received", since=received.isoformat(), until=received.isoformat()) == [korean, french, refusal]
    assert listed(dated="received", until=(received - timedelta(days=1)).isoformat()) == []
    assert listed(dated="received", since=(received + timedelta(days=1)).isoformat()) == []
    bad = console.get("/console/requests", params={"status": "<b>Nope</b>", "since": "yesterday", "office": "FRA"})
    assert bad.status_code == 200 and "unknown status" in bad.text and "<b>Nope" not in bad.text
    assert "is not a date" in bad.text and "two letters" in bad.text

    monkeypatch.setattr(requests_page, "PER_PAGE", 2)
    first = console.get("/console/requests")
    assert "Requests 1–2 of 3" in first.text and "Page 1 of 2" in first.text
    assert 'href="/console/requests?page=2" rel="next"' in first.text and 'rel="prev"' not in first.text
    second = console.get("/console/requests", params={"page": "2"})
    assert "Requests 3–3 of 3" in second.text and 'rel="prev"' in second.text and 'rel="next"' not in second.text
    newest_first = [korean, french, refusal][::-1]  # created at the same instant: by SRN, newest first
    assert newest_first[0] in first.text and newest_first[2] in second.text and newest_first[2] not in first.text
    filtered = console.get("/console/requests", params={"status": "Undefined", "page": "2"})  # filters kept in the links
    assert 'href="/console/requests?status=Undefined&amp;page=1" rel="prev"' in filtered.text
    beyond = console.get("/console/requests", params={"office": "KR", "page": "5"})
    assert "No request on page 5; 1 in all." in beyond.text and 'href="/console/requests?office=KR&amp;page=1"' in beyond.text


def test_pages_need_a_signed_in_operator(console_service) -> None:  # type: ignore[no-untyped-def]
    from starlette.testclient import TestClient

    from hws.api.app import create_app

    with TestClient(create_app(console_service), base_url="http://hws.test", follow_redirects=False) as anonymous:
        response = anonymous.get("/console/requests")
        assert response.status_code == 303 and "/console/sign-in" in response.headers["location"]


# One request ------------------------------------------------------------------------------------


def test_request_page_shows_data_history_files_and_escaped_xml(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    spec = example_spec("application", office="KR")
    designs = copy.deepcopy(spec["designs"])
    designs[0]["description"] = "<script>alert('xml')</script> & <b>bold</b>"
    srn = receive(service, build_package({**spec, "designs": designs}, fill_missing=True))
    console = signed_in(Role.VIEWER)
    page = console.get(f"/console/requests/{srn}")
    assert page.status_code == 200, page.text
    text = page.text
    assert f"Service request {srn}" in text and "KR-2024-0001" in text and "HagueApplication" in text
    # history: the import's event
    assert "package imported" in text and "<td>import</td>" in text
    # the stored files: names, media types, sizes, digests, download links
    for stored in sr_store.files(service.engine, srn):
        assert stored.path in text and stored.sha256 in text and f"{stored.size:,}" in text
    assert "application/pdf" in text and "image/jpeg" in text and "image/png" in text
    # the XML: indented, escaped text in <pre>, never markup
    assert '<pre class="xml"' in text
    xml_part = text.split('<pre class="xml"', 1)[1].split("</pre>", 1)[0]
    assert "&lt;dgn:HagueOfficeToIBTransaction" in xml_part and "<dgn:" not in xml_part
    assert "&amp;lt;script&amp;gt;alert(" in xml_part  # the XML's own escape, escaped again
    assert "<script>alert" not in text and "<b>bold" not in text
    # reproductions: thumbnails drawn by the server, never the files themselves
    image_numbers = [n for n, f in enumerate(sr_store.files(service.engine, srn), 1) if f.kind == "REPRODUCTION"]
    assert image_numbers
    for n in image_numbers:
        assert f'src="/console/requests/{srn}/files/{n}/thumbnail"' in text
        assert f'src="/console/requests/{srn}/files/{n}"' not in text
    # a viewer sees no action form
    assert f'action="/console/requests/{srn}/take-up"' not in text and "your role (viewer) can only look" in text


def test_request_page_links_decisions_and_registrations(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    application = receive(service, example_package("application", office="KR"))
    refusal = receive(service, example_package("refusal", office="JP", irn="DM/200001"), office="JP")
    console = signed_in(Role.EXAMINER)
    for srn in (application, refusal):
        assert console.post(f"/console/requests/{srn}/take-up").status_code == 303
    assert console.post(f"/console/requests/{application}/register").status_code == 303
    assert console.post(f"/console/requests/{refusal}/register").status_code == 303
    registration = console.get(f"/console/requests/{application}").text
    assert "DM/200001" in registration and f'href="/console/requests/{refusal}"' in registration
    decision = console.get(f"/console/requests/{refusal}").text
    assert f'<a href="/console/requests/{application}">request {application}</a>' in decision


def test_a_communication_is_registered_against_the_request_it_cures(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    application = receive(service, example_package("application", office="KR"))
    cure = receive(
        service,
        example_package(
            "HagueGenericOfficeCommunication", office="KR", office_reference="KR-2024-0001", irn=None,
            category="Application", documents=[{"file": "cure.pdf", "kind": "MISCELLANEOUS"}],
        ),
    )  # fmt: skip
    console = signed_in(Role.EXAMINER)
    for srn in (application, cure):
        console.post(f"/console/requests/{srn}/take-up")
    assert 'name="recorded_against"' in console.get(f"/console/requests/{cure}").text
    assert 'name="recorded_against"' not in console.get(f"/console/requests/{application}").text
    for wrong in ("970999999", "DM/1", cure):
        refused = console.post(f"/console/requests/{cure}/register", {"recorded_against": wrong})
        assert refused.status_code == 422 and f"There is no other service request {wrong}" in refused.text
    assert status_of(service, cure) == "Processing"
    assert console.post(f"/console/requests/{cure}/register", {"recorded_against": application}).status_code == 303
    sr = sr_store.get(service.engine, cure)
    assert sr is not None and sr.status == "Registered" and sr.recorded_against == application
    assert f'href="/console/requests/{cure}"' in console.get(f"/console/requests/{application}").text


def test_unknown_request_file_or_action_is_404(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    srn = receive(console_service, example_package("application", office="KR"))
    console = signed_in(Role.EXAMINER)
    assert console.get("/console/requests/970999999").status_code == 404
    assert console.get("/console/requests/not-an-srn").status_code == 404
    assert console.get(f"/console/requests/{srn}/files/99").status_code == 404
    assert console.get(f"/console/requests/{srn}/files/0/thumbnail").status_code == 404
    pdf = stored_file_number(console_service, srn, "docs/dm1.pdf")
    assert console.get(f"/console/requests/{srn}/files/{pdf}/thumbnail").status_code == 404  # not a reproduction
    assert console.post(f"/console/requests/{srn}/explode").status_code == 404
    assert console.post("/console/requests/970999999/take-up").status_code == 404
    assert status_of(console_service, srn) == "Undefined"


# Actions ---------------------------------------------------------------------------------------


def transitions(service: Service, srn: str) -> list[dict[str, object]]:
    return list(reversed(audit.query(service.engine, action="sr.transition", target=srn)))


def test_examiner_walks_the_life_cycle(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = receive(service, example_package("application", office="KR"))
    console = signed_in(Role.EXAMINER, "erika")
    page = console.get(f"/console/requests/{srn}").text
    assert f'action="/console/requests/{srn}/take-up"' in page and f'data-confirm="Take up {srn}' in page
    assert f'action="/console/requests/{srn}/register"' not in page  # not from Undefined

    taken = console.post(f"/console/requests/{srn}/take-up")
    assert taken.status_code == 303 and taken.headers["location"] == f"/console/requests/{srn}"
    assert status_of(service, srn) == "Processing"

    page = console.get(f"/console/requests/{srn}").text
    today = service.calendar.now().date()
    normal = regularization_deadline(today, fee_shortfall=False)
    short = regularization_deadline(today, fee_shortfall=True)
    assert f"No: deadline {normal.isoformat()}" in page and f"fee shortfall: deadline {short.isoformat()}" in page
    notified = console.post(
        f"/console/requests/{srn}/irregularity", {"reason": "reproduction 1.2 unclear", "fee_shortfall": "yes"}
    )
    assert notified.status_code == 303
    sr = sr_store.get(service.engine, srn)
    assert sr is not None and sr.status == "Pending Regularization"
    assert sr.regularization_deadline == short and sr.fee_shortfall

    assert console.post(f"/console/requests/{srn}/regularize", {"reason": "new reproduction"}).status_code == 303
    assert status_of(service, srn) == "Processing"
    registered = console.post(f"/console/requests/{srn}/register")
    assert registered.status_code == 303
    sr = sr_store.get(service.engine, srn)
    assert sr is not None and sr.status == "Registered" and sr.irn == "DM/200001"
    shown = console.get(f"/console/requests/{srn}")
    assert f"{srn} is now Registered (DM/200001)" in shown.text  # the notice
    assert '<h2 id="actions-title">' not in shown.text  # final: no action left

    history = sr_store.history(service.engine, srn)
    assert [(e["from"], e["to"]) for e in history] == [
        (None, "Undefined"),
        ("Undefined", "Processing"),
        ("Processing", "Pending Regularization"),
        ("Pending Regularization", "Processing"),
        ("Processing", "Registered"),
    ]
    assert {e["actor"] for e in history[1:]} == {"operator:erika"}
    assert history[2]["reason"] == "reproduction 1.2 unclear" and history[3]["reason"] == "new reproduction"
    rows = transitions(service, srn)
    assert [(r["detail"]["from"], r["detail"]["to"]) for r in rows] == [(e["from"], e["to"]) for e in history[1:]]
    assert all(r["actor"] == "operator:erika" and r["source"] == "127.0.0.1" for r in rows)
    assert "operator:erika" in shown.text and "reproduction 1.2 unclear" in shown.text


def test_examiner_cancels_with_a_reason(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = receive(service, example_package("application", office="KR"))
    console = signed_in(Role.EXAMINER, "carl")
    page = console.get(f"/console/requests/{srn}").text
    assert f'data-confirm="Cancel {srn}? This cannot be undone."' in page
    assert console.post(f"/console/requests/{srn}/cancel", {"reason": "sent twice"}).status_code == 303
    assert status_of(service, srn) == "Cancelled"
    (row,) = transitions(service, srn)
    assert row["actor"] == "operator:carl" and row["source"] == "127.0.0.1" and row["detail"]["reason"] == "sent twice"


def test_refused_action_shows_the_page_with_the_error(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = receive(service, example_package("application", office="KR"))
    refusal = receive(service, example_package("refusal", office="JP", irn="DM/200001"), office="JP")
    console = signed_in(Role.EXAMINER)
    blank = console.post(f"/console/requests/{srn}/cancel", {"reason": "   "})
    assert blank.status_code == 422 and "give the reason for the cancellation" in blank.text
    assert f"Service request {srn}" in blank.text
    wrong = console.post(f"/console/requests/{srn}/register")  # Undefined cannot become Registered
    assert wrong.status_code == 422 and "cannot become Registered" in wrong.text
    console.post(f"/console/requests/{srn}/take-up")
    no_choice = console.post(f"/console/requests/{srn}/irregularity", {"reason": "unclear <img src=x>"})
    assert no_choice.status_code == 422 and "basic fee" in no_choice.text
    assert "unclear &lt;img src=x&gt;</textarea>" in no_choice.text  # kept, escaped
    no_reason = console.post(f"/console/requests/{srn}/irregularity", {"reason": "", "fee_shortfall": "no"})
    assert no_reason.status_code == 422 and "say what the irregularity is" in no_reason.text
    console.post(f"/console/requests/{refusal}/take-up")
    unknown = console.post(f"/console/requests/{refusal}/register")
    assert unknown.status_code == 422 and "no international registration DM/200001" in unknown.text
    assert status_of(service, srn) == "Processing" and status_of(service, refusal) == "Processing"
    assert len(transitions(service, srn)) == 1


def test_viewer_is_refused_every_action_posted_by_hand(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    undefined = receive(service, example_package("application", office="KR"))
    processing = receive(service, example_package("application", office="KR", office_reference="KR-2"))
    pending = receive(service, example_package("application", office="KR", office_reference="KR-3"))
    examiner = signed_in(Role.EXAMINER)
    examiner.post(f"/console/requests/{processing}/take-up")
    examiner.post(f"/console/requests/{pending}/take-up")
    examiner.post(f"/console/requests/{pending}/irregularity", {"reason": "unclear", "fee_shortfall": "no"})
    before = {srn: status_of(service, srn) for srn in (undefined, processing, pending)}
    viewer = signed_in(Role.VIEWER, "vera")
    attempts = [
        (undefined, "take-up", {}),
        (processing, "irregularity", {"reason": "x", "fee_shortfall": "no"}),
        (pending, "regularize", {}),
        (processing, "register", {}),
        (undefined, "cancel", {"reason": "x"}),
    ]
    for srn, action, form in attempts:
        response = viewer.post(f"/console/requests/{srn}/{action}", form)  # with the viewer's own valid CSRF token
        assert response.status_code == 403, (action, response.status_code)
        assert "needs the examiner role" in response.text
    assert {srn: status_of(service, srn) for srn in before} == before
    refused = audit.query(service.engine, actor="operator:vera", action="console.refused")
    assert len(refused) == len(attempts) and all(r["source"] == "127.0.0.1" for r in refused)


def test_missing_or_wrong_csrf_token_is_refused(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = receive(service, example_package("application", office="KR"))
    console = signed_in(Role.ADMINISTRATOR)
    assert console.client.post(f"/console/requests/{srn}/take-up", data={}).status_code == 403
    assert console.post(f"/console/requests/{srn}/take-up", {"csrf_token": "not-the-token"}).status_code == 403
    assert console.post(f"/console/requests/{srn}/cancel", {"csrf_token": "", "reason": "x"}).status_code == 403
    other_site = console.post(f"/console/requests/{srn}/take-up", headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    assert status_of(service, srn) == "Undefined" and transitions(service, srn) == []
    assert console.post(f"/console/requests/{srn}/take-up").status_code == 303  # with the token: done


# Files and reproductions -------------------------------------------------------------------------


def test_thumbnails_of_the_example_reproductions(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = receive(service, example_package("application", office="KR"))
    console = signed_in(Role.VIEWER)
    for path, expected in (("images/1.1.jpg", "JPEG"), ("images/1.2.png", "PNG")):
        stored = sr_store.files(service.engine, srn)[stored_file_number(service, srn, path) - 1]
        with Image.open(io.BytesIO(service.files.open(stored.sha256).read())) as original:
            assert original.format == expected
            size = original.size
        n = stored_file_number(service, srn, path)
        for route in ("thumbnail", "preview"):
            response = console.get(f"/console/requests/{srn}/files/{n}/{route}")
            assert response.status_code == 200
            assert response.headers["content-type"] == "image/png"
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["content-disposition"].startswith("inline")
            with Image.open(io.BytesIO(response.content)) as drawn:
                assert drawn.format == "PNG" and drawn.size == size  # small specimens are not enlarged
            assert response.content != service.files.open(stored.sha256).read()


def test_download_is_an_attachment_of_the_right_type(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = receive(service, example_package("application", office="KR"))
    console = signed_in(Role.VIEWER)
    for path, media_type in (("docs/dm1.pdf", "application/pdf"), ("images/1.1.jpg", "image/jpeg")):
        n = stored_file_number(service, srn, path)
        response = console.get(f"/console/requests/{srn}/files/{n}")
        assert response.status_code == 200
        assert response.headers["content-type"] == media_type
        assert response.headers["content-disposition"] == f'attachment; filename="{srn}-{path.rsplit("/", 1)[1]}"'
        assert response.headers["x-content-type-options"] == "nosniff"
        stored = sr_store.files(service.engine, srn)[n - 1]
        assert response.content == service.files.open(stored.sha256).read()
    xml = next(f for f in sr_store.files(service.engine, srn) if f.kind == "ST96_XML")
    n = stored_file_number(service, srn, xml.path)
    response = console.get(f"/console/requests/{srn}/files/{n}")
    assert response.headers["content-type"].startswith(("application/xml", "text/xml"))
    assert response.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize("payload", [HTML_PAYLOAD, SVG_PAYLOAD], ids=["html", "svg"])
def test_markup_named_jpg_is_never_served_as_markup(console_service, signed_in, payload: bytes) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    srn = hostile_request(service, "images/evil.jpg", payload)
    console = signed_in(Role.VIEWER)
    page = console.get(f"/console/requests/{srn}")
    assert page.status_code == 200 and payload.decode() not in page.text
    assert f'src="/console/requests/{srn}/files/1/thumbnail"' in page.text
    for route in ("thumbnail", "preview"):
        drawn = console.get(f"/console/requests/{srn}/files/1/{route}")
        assert drawn.status_code == 422 and drawn.headers["content-type"].startswith("text/plain")
        assert drawn.headers["x-content-type-options"] == "nosniff" and b"<script" not in drawn.content
    download = console.get(f"/console/requests/{srn}/files/1")
    assert download.headers["content-type"] == "image/jpeg"  # never text/html, never shown
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"


def test_image_carrying_a_script_is_shown_only_redrawn(console_service, signed_in) -> None:  # type: ignore[no-untyped-def]
    service = console_service
    hostile = png_with_text_after_pixels(b"<script>alert('png')</script>")
    with Image.open(io.BytesIO(hostile)) as image:  # a valid image: imports accept it
        image.load()
        assert "<script>" in image.info["Comment"]
    srn = receive(
        service, build_package(example_spec("application", office="KR"), {"images/1.2.png": hostile}, fill_missing=True)
    )
    n = stored_file_number(service, srn, "images/1.2.png")
    console = signed_in(Role.VIEWER)
    response = console.get(f"/console/requests/{srn}/files/{n}/thumbnail")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert b"<script" not in response.content and b"tEXt" not in response.content
    with Image.open(io.BytesIO(response.content)) as drawn:
        assert drawn.size == (64, 64) and "Comment" not in drawn.info


# The XML view ------------------------------------------------------------------------------------


def test_xml_view_uses_the_hardened_parser() -> None:
    entity = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>'
    refused = xml_view.pretty(entity)
    assert refused.text is None and refused.problem is not None and "xml-doctype-forbidden" in refused.problem
    broken = xml_view.pretty(b"<a><b></a>")
    assert broken.text is None and broken.problem is not None and "xml-not-well-formed" in broken.problem
    shown = xml_view.pretty(b"<a><b>x &lt;script&gt;</b><c/></a>")
    assert shown.text == "<a>\n  <b>x &lt;script&gt;</b>\n  <c/>\n</a>\n"
    assert xml_view.pretty(b"<a/>" + b" " * 20, max_bytes=10).problem is not None


# The store's queries, on both engines -----------------------------------------------------------


def test_search_and_related_on_both_engines(tmp_path: Path, database_url: str) -> None:
    service = make_service(tmp_path, database_url, calendar=FixedClock(START), worker_threads=0)
    try:
        korean = receive(service, example_package("application", office="KR", office_reference="KR_50%"))
        french = receive(service, example_package("application", office="FR", office_reference="FR-1"), office="FR")
        refusal = receive(service, example_package("refusal", office="JP", irn="DM/200001"), office="JP")
        engine = service.engine

        def srns(**filters: object) -> list[str]:
            return [sr.srn for sr in sr_store.search(engine, **filters).items]  # type: ignore[arg-type]

        assert srns() == [refusal, french, korean]  # newest first
        assert sr_store.search(engine, limit=2, offset=2).items[0].srn == korean
        assert sr_store.search(engine, limit=2, offset=2).total == 3
        assert srns(text="_50%") == [korean] and srns(text="0%") == [korean] and srns(text="dm/2000") == [refusal]
        assert srns(office="FR") == [french] and srns(transaction="HagueRefusalRequest") == [refusal]
        now = service.calendar.now()
        assert srns(since=now, until=now + timedelta(seconds=1)) == [refusal, french, korean]
        assert srns(until=now) == []
        assert srns(dated="received", until=now - timedelta(days=3650)) == []
        with pytest.raises(ValueError):
            sr_store.search(engine, dated="published")
        examiner = Examiner(service)
        for srn in (korean, refusal):
            examiner.take_up(srn, actor="test")
        examiner.register(korean, actor="test")
        examiner.register(refusal, actor="test")
        registration = sr_store.get(engine, korean)
        assert registration is not None
        assert [sr.srn for sr in sr_store.related(engine, registration)] == [refusal]
        assert srns(text="DM/200001") == [refusal, korean]
    finally:
        service.close()
