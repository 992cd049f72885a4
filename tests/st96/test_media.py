"""Reproductions and documents are decoded, not sniffed (issue 9, item 4;
checklists/package.md: polyglots, pixel limit, PDF active content)."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pypdf import PdfWriter
from pypdf.generic import ArrayObject, DictionaryObject, NameObject, TextStringObject

from hws.st96 import media, specimens


def pillow_jpeg(progressive: bool = False, exif: bool = False) -> bytes:
    image = Image.new("RGB", (64, 48), (200, 30, 30))
    out = io.BytesIO()
    kwargs = {"quality": 90, "progressive": progressive}
    if exif:
        data = Image.Exif()
        data[0x010F] = "hws camera"
        kwargs["exif"] = data.tobytes()
    image.save(out, "JPEG", **kwargs)
    return out.getvalue()


def pillow_png() -> bytes:
    out = io.BytesIO()
    Image.new("L", (32, 32), 90).save(out, "PNG")
    return out.getvalue()


def pypdf_document(extra: dict | None = None, page_extra: dict | None = None) -> bytes:  # type: ignore[type-arg]
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    for key, value in (page_extra or {}).items():
        page[NameObject(key)] = value
    for key, value in (extra or {}).items():
        writer._root_object[NameObject(key)] = value
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def codes(name: str, data: bytes, media_type: str) -> list[str]:
    return [p.code for p in media.check(name, data, media_type)]


# What is accepted --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "media_type"),
    [
        ("specimen.jpg", specimens.jpeg(), "image/jpeg"),
        ("baseline.jpg", pillow_jpeg(), "image/jpeg"),
        ("progressive.jpg", pillow_jpeg(progressive=True), "image/jpeg"),
        ("exif.jpg", pillow_jpeg(exif=True), "image/jpeg"),
        ("specimen.png", specimens.png(), "image/png"),
        ("pillow.png", pillow_png(), "image/png"),
        ("specimen.pdf", specimens.pdf(), "application/pdf"),
        ("pypdf.pdf", pypdf_document(), "application/pdf"),
        ("padded.pdf", specimens.pdf() + b"\r\n\x00\x00", "application/pdf"),
    ],
)
def test_real_files_are_accepted(name: str, data: bytes, media_type: str) -> None:
    assert media.check(name, data, media_type) == []


# Polyglots and impostors ---------------------------------------------------------------------

HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize(
    ("name", "data", "media_type", "code"),
    [
        ("jpeg-magic-then-html.jpg", b"\xff\xd8\xff\xe0" + HTML, "image/jpeg", "file-not-jpeg"),
        ("four-bytes.jpg", b"\xff\xd8\xff\xe0", "image/jpeg", "file-not-jpeg"),
        ("png-named-jpg.jpg", b"\xff\xd8\xff" + pillow_png(), "image/jpeg", "file-not-jpeg"),
        ("truncated.jpg", pillow_jpeg()[:-200], "image/jpeg", "file-not-jpeg"),
        ("html-after-eoi.jpg", pillow_jpeg() + HTML, "image/jpeg", "file-trailing-data"),
        ("html-after-eoi-ending-in-eoi.jpg", pillow_jpeg() + HTML + b"\xff\xd9", "image/jpeg", "file-trailing-data"),
        ("png-magic-then-html.png", b"\x89PNG\r\n\x1a\n" + HTML, "image/png", "file-not-png"),
        ("html-after-iend.png", pillow_png() + HTML, "image/png", "file-trailing-data"),
        ("pdf-then-html.pdf", b"%PDF-1.7\n" + HTML, "application/pdf", "file-not-pdf"),
        ("bare-header.pdf", b"%PDF-", "application/pdf", "file-not-pdf"),
        ("pdf-header-html-eof.pdf", b"%PDF-1.4\n" + HTML + b"\n%%EOF\n", "application/pdf", "file-not-pdf"),
        ("html-after-eof.pdf", specimens.pdf() + HTML, "application/pdf", "file-trailing-data"),
    ],
)
def test_polyglots_and_impostors_are_refused_naming_the_entry(name: str, data: bytes, media_type: str, code: str) -> None:
    problems = media.check(name, data, media_type)
    assert [p.code for p in problems] == [code], problems
    assert problems[0].where.entry == name and repr(name) in problems[0].message


def test_markup_in_a_jpeg_comment_is_refused() -> None:
    jpeg = pillow_jpeg()
    comment = HTML
    with_comment = jpeg[:2] + b"\xff\xfe" + struct.pack(">H", len(comment) + 2) + comment + jpeg[2:]
    Image.open(io.BytesIO(with_comment)).load()  # still a decodable JPEG
    assert codes("commented.jpg", with_comment, "image/jpeg") == ["file-markup"]


def test_a_decompression_bomb_is_refused_before_decoding() -> None:
    width = height = 20_000  # 400 megapixels of zeros: 400 MB decoded, a few hundred KB stored
    raw = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    body = b"".join(raw.compress(row) for _ in range(height)) + raw.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
        + chunk(b"IDAT", body)
        + chunk(b"IEND", b"")
    )
    assert len(bomb) < 2_000_000
    assert codes("bomb.png", bomb, "image/png") == ["file-too-many-pixels"]


def test_the_pixel_limit_is_a_parameter() -> None:
    assert codes("big.png", pillow_png(), "image/png") == []
    assert [p.code for p in media.check("big.png", pillow_png(), "image/png", max_pixels=1000)] == ["file-too-many-pixels"]


# PDF active content ----------------------------------------------------------------------------


def _js_action() -> DictionaryObject:
    return DictionaryObject({NameObject("/S"): NameObject("/JavaScript"), NameObject("/JS"): TextStringObject("app.alert(1)")})


def _launch_action() -> DictionaryObject:
    return DictionaryObject({NameObject("/S"): NameObject("/Launch"), NameObject("/F"): TextStringObject("calc.exe")})


def _with_attachment() -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment("payload.exe", b"MZ" + b"\x00" * 64)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _with_document_javascript() -> bytes:
    """JavaScript in the catalog's /Names tree, run when the document opens."""
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    action = writer._add_object(_js_action())
    names = DictionaryObject({NameObject("/Names"): ArrayObject([TextStringObject("hws"), action])})
    writer._root_object[NameObject("/Names")] = DictionaryObject({NameObject("/JavaScript"): writer._add_object(names)})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("label", "data"),
    [
        ("OpenAction JavaScript", pypdf_document({"/OpenAction": _js_action()})),
        ("page additional action", pypdf_document(page_extra={"/AA": DictionaryObject({NameObject("/O"): _launch_action()})})),
        ("Launch action", pypdf_document({"/OpenAction": _launch_action()})),
        ("embedded file", _with_attachment()),
        ("document JavaScript", _with_document_javascript()),
    ],
)
def test_pdf_active_content_is_refused(label: str, data: bytes) -> None:
    problems = media.check("doc.pdf", data, "application/pdf")
    assert [p.code for p in problems] == ["file-active-content"], (label, problems)
    assert "'doc.pdf'" in problems[0].message


def test_a_pdf_without_pages_is_refused() -> None:
    writer = PdfWriter()
    out = io.BytesIO()
    writer.write(out)
    assert codes("empty.pdf", out.getvalue(), "application/pdf") == ["file-not-pdf"]


# Never anything but problems ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from([b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"%PDF-1.4\n"]),
    body=st.binary(max_size=2048),
    media_type=st.sampled_from(["image/jpeg", "image/png", "application/pdf"]),
)
def test_arbitrary_bytes_give_problems_never_exceptions(prefix: bytes, body: bytes, media_type: str) -> None:
    problems = media.check("x", prefix + body, media_type)
    assert all(p.where.entry == "x" for p in problems)


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(min_value=1, max_value=400), flip=st.integers(min_value=0, max_value=10_000))
def test_damaged_real_files_give_problems_never_exceptions(cut: int, flip: int) -> None:
    for data, media_type in (
        (pillow_jpeg(progressive=True), "image/jpeg"),
        (pillow_png(), "image/png"),
        (specimens.pdf(), "application/pdf"),
    ):
        damaged = bytearray(data[: max(1, len(data) - cut)])
        damaged[flip % len(damaged)] ^= 0x55
        media.check("y", bytes(damaged), media_type)


def test_names_inside_stream_data_are_data_not_actions() -> None:
    """Binary stream data (images, fonts) holds "/JS " by chance once per few MB: not an
    action. (A durability fixture with a random 1 MB stream was refused 1 time in 200.)"""
    payload = b"\x00\x17/JS /Launch /EmbeddedFiles " * 100 + bytes(range(256)) * 10
    assert codes("binary.pdf", specimens.pdf("binary", payload=payload), "application/pdf") == []


def test_an_unreferenced_object_with_javascript_is_refused() -> None:
    """Nothing points at it, but a reader rebuilding a damaged file could find it."""
    document = specimens.pdf("orphan")
    orphan = b"9 0 obj\n<< /S /JavaScript /JS (app.alert(1)) >>\nendobj\n"
    at = document.index(b"xref")
    moved = (document[:at] + orphan + document[at:]).replace(b"startxref\n%d\n" % at, b"startxref\n%d\n" % (at + len(orphan)))
    assert codes("orphan.pdf", moved, "application/pdf") == ["file-active-content"]


def test_javascript_inside_a_compressed_object_stream_is_refused() -> None:
    """Objects packed in a compressed object stream are invisible to a byte scan: the
    reader's own object list finds them."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.Root.OpenAction = pdf.make_indirect(pikepdf.Dictionary(S=pikepdf.Name.JavaScript, JS=pikepdf.String("app.alert(1)")))
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate, compress_streams=True)
    data = out.getvalue()
    assert b"/JavaScript" not in data and b"/ObjStm" in data  # packed and deflated
    problems = media.check("packed.pdf", data, "application/pdf")
    assert [p.code for p in problems] == ["file-active-content"]
    assert "/JS" in problems[0].message or "JavaScript" in problems[0].message


def test_a_direct_action_nested_in_a_page_is_refused() -> None:
    """An action written inside another object (no object of its own) is still seen."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.pages[0].obj.AA = pikepdf.Dictionary(O=pikepdf.Dictionary(S=pikepdf.Name.Launch, F=pikepdf.String("calc.exe")))
    out = io.BytesIO()
    pdf.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    assert codes("nested.pdf", out.getvalue(), "application/pdf") == ["file-active-content"]
