"""Decode what a package carries: reproductions as images, documents as PDFs.

Sniffing the first bytes is not enough: a file that starts with JPEG's magic bytes and
goes on with ``<html><script>…`` was once registered and shipped to every office in the
weekly bulletin. Here an image must decode fully, as the format its name claims, within
a pixel limit, and end where the format says it ends; a PDF must parse, have a page,
end with ``%%EOF`` and carry no JavaScript, launch action or embedded file; and no
file may carry HTML or script markup near its start, where browsers sniff.

Pure: bytes in, problems out (Pillow and pikepdf, qpdf's Python binding, do the decoding). Never raises for bad
input.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Iterator
from typing import Any

from PIL import Image, UnidentifiedImageError

from hws.st96.problems import Location, Problem

#: the most pixels a reproduction may have: 40 megapixels, ten times WIPO's largest
#: target (3780 × 3780 px, 16 cm at 600 dpi); a decompression bomb is refused before
#: its pixels are allocated
MAX_PIXELS = 40_000_000

#: markup browsers treat as HTML or script when they sniff a file's start
_MARKUP = re.compile(
    rb"<\s*(?:!doctype\s+html|html|head|body|script|iframe|object|embed|svg|img\s|a\s+href|meta\s|style|title|xml-stylesheet)"
    rb"|javascript:",
    re.IGNORECASE,
)
_SNIFF_BYTES = 1024

#: PDF dictionary keys and action types that run code, launch programs or carry files
_PDF_ACTIVE_KEYS = frozenset({"/JS", "/JavaScript", "/EmbeddedFiles", "/EmbeddedFile", "/RichMedia", "/XFA"})
_PDF_ACTIVE_ACTIONS = frozenset({"/JavaScript", "/Launch", "/ImportData", "/RichMediaExecute"})
_PDF_ACTIVE_SUBTYPES = frozenset({"/FileAttachment", "/RichMedia", "/Screen", "/Movie", "/Sound"})
_PDF_NAMES = re.compile(rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA)(?=[\s/<>\[\]()%]|$)")
#: stream data (images, fonts, compressed content): binary, where those names occur by chance
_PDF_STREAM_DATA = re.compile(rb"\bstream\r?\n.*?\bendstream\b", re.DOTALL)
_PDF_MAX_OBJECTS = 200_000
#: dictionaries and arrays visited, nested ones included
_PDF_MAX_NODES = 1_000_000

_WHAT = {"JPEG": "a JPEG image", "PNG": "a PNG image"}
_FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
#: the code of a file that is not what its name says, by media type
_NOT_WHAT_NAMED = {"image/jpeg": "file-not-jpeg", "image/png": "file-not-png", "application/pdf": "file-not-pdf"}


#: what Pillow raises on a file that does not decode (truncated, corrupt, another format
#: under the name, hostile headers), beyond its pixel-limit errors
DECODING_ERRORS = (
    UnidentifiedImageError,
    OSError,
    SyntaxError,
    ValueError,
    struct.error,
    EOFError,
    MemoryError,
    IndexError,
    KeyError,
    TypeError,
)


def check(name: str, data: bytes, media_type: str, *, max_pixels: int = MAX_PIXELS) -> list[Problem]:
    """Problems with one file of ``media_type`` (``image/jpeg``, ``image/png`` or
    ``application/pdf``), each naming the entry."""
    where = Location(entry=name)
    try:
        if media_type == "application/pdf":
            problems = _check_pdf(name, data, where)
        else:
            problems = _check_image(name, data, media_type, max_pixels, where)
    except RecursionError:
        problems = [Problem(_NOT_WHAT_NAMED[media_type], f"{name!r} is nested too deeply to be read", where)]
    if not problems and _MARKUP.search(data[:_SNIFF_BYTES]):
        problems.append(
            Problem(
                "file-markup",
                f"{name!r} carries HTML or script markup in its first {_SNIFF_BYTES} bytes, where a browser "
                "would take it for a web page; save the file again from an image or PDF tool",
                where,
            )
        )
    return problems


# Images -------------------------------------------------------------------------------------


def _check_image(name: str, data: bytes, media_type: str, max_pixels: int, where: Location) -> list[Problem]:
    expected = _FORMATS[media_type]
    code, what = _NOT_WHAT_NAMED[media_type], _WHAT[expected]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as image:
                if image.format != expected:
                    return [
                        Problem(
                            code, f"{name!r} is named like {what} but is {_WHAT.get(image.format or '', 'another format')}", where
                        )
                    ]
                width, height = image.size
                if width * height > max_pixels:
                    return [
                        Problem(
                            "file-too-many-pixels",
                            f"{name!r} is {width} × {height} pixels; the limit is {max_pixels} pixels",
                            where,
                        )
                    ]
                image.load()  # the whole image, every scan: a truncated or corrupt one fails here
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return [Problem("file-too-many-pixels", f"{name!r} has more pixels than the limit of {max_pixels}", where)]
    except DECODING_ERRORS as exc:
        return [Problem(code, f"{name!r} is named like {what} but does not decode as one ({_reason(exc)})", where)]
    end = _jpeg_end(data) if expected == "JPEG" else _png_end(data)
    if end is None:
        return [Problem(code, f"{name!r} is named like {what} but its structure does not end as one", where)]
    if data[end:].strip(b"\x00"):
        return [
            Problem(
                "file-trailing-data",
                f"{name!r} has {len(data) - end} bytes after the end of the image; save the image again without them",
                where,
            )
        ]
    return []


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _jpeg_end(data: bytes) -> int | None:
    """The offset just past the JPEG's EOI marker, walking its segments and scans."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at, size = 2, len(data)
    while at < size:
        if data[at] != 0xFF:
            return None
        while at < size and data[at] == 0xFF:  # fill bytes
            at += 1
        if at >= size:
            return None
        marker = data[at]
        at += 1
        if marker == 0xD9:  # EOI
            return at
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # RSTn, TEM: no length
            continue
        if at + 2 > size:
            return None
        (length,) = struct.unpack_from(">H", data, at)
        if length < 2:
            return None
        at += length
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker that is not RSTn or a stuffed 0xFF
            while True:
                at = data.find(b"\xff", at)
                if at < 0 or at + 1 >= size:
                    return None
                following = data[at + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    at += 1 if following == 0xFF else 2
                    continue
                break
    return None


def _png_end(data: bytes) -> int | None:
    """The offset just past the PNG's IEND chunk."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    at = 8
    while at + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, at)
        at += 12 + length
        if kind == b"IEND":
            return at if at <= len(data) else None
    return None


# PDF ------------------------------------------------------------------------------------------


def load_pdf_reader() -> None:
    """Import the PDF reader now rather than inside the first package's validation; the
    CLI does not pay for it at start-up."""
    import pikepdf  # noqa: F401


def _check_pdf(name: str, data: bytes, where: Location) -> list[Problem]:
    import pikepdf

    not_pdf = _NOT_WHAT_NAMED["application/pdf"]
    tail = data.rstrip(b" \t\r\n\x00")
    if not tail.endswith(b"%%EOF"):
        return [
            Problem(
                not_pdf if b"%%EOF" not in data else "file-trailing-data",
                f"{name!r} does not end with %%EOF"
                + (" (there is data after it)" if b"%%EOF" in data else "")
                + "; send the PDF as the PDF tool saved it",
                where,
            )
        ]
    try:
        # qpdf (through pikepdf) reads the file; a damaged cross-reference table is
        # rebuilt by scanning, as readers do, so the objects checked are those a reader finds
        with pikepdf.open(io.BytesIO(data)) as pdf:
            if pdf.is_encrypted:
                return [Problem(not_pdf, f"{name!r} is an encrypted PDF; send it unencrypted", where)]
            catalog = pdf.trailer.get("/Root")
            if not isinstance(catalog, pikepdf.Dictionary) or catalog.get("/Type") != pikepdf.Name.Catalog:
                return [Problem(not_pdf, f"{name!r} is named like a PDF but has no document catalog", where)]
            if len(pdf.pages) < 1:
                return [Problem(not_pdf, f"{name!r} is named like a PDF but has no page", where)]
            found = _active_content(pdf)
    except pikepdf.PasswordError:
        return [Problem(not_pdf, f"{name!r} is an encrypted PDF; send it unencrypted", where)]
    except Exception as exc:  # qpdf raises many kinds on hostile input
        return [Problem(not_pdf, f"{name!r} is named like a PDF but does not parse as one ({_reason(exc)})", where)]
    if found is None:  # also in objects no cross-reference lists (a reader rebuilding the file may find them)
        raw = _PDF_NAMES.search(_PDF_STREAM_DATA.sub(b"stream endstream", data))
        found = raw.group(0).decode("latin-1") if raw else None
    if found is not None:
        return [
            Problem(
                "file-active-content",
                f"{name!r} carries active content ({found}): a PDF may hold no JavaScript, launch action "
                "or embedded file; print it to a plain PDF",
                where,
            )
        ]
    return []


def _active_content(pdf: Any) -> str | None:
    """The first JavaScript, launch action or embedded file among every object of the file
    (those in object streams included) and the trailer, direct objects nested in them
    included (an indirect one is among the file's objects: checked once)."""
    import pikepdf

    objects = pdf.objects
    if len(objects) > _PDF_MAX_OBJECTS:
        return "more objects than can be checked"
    stack: list[Any] = [pdf.trailer, *objects]
    visited = 0
    while stack:
        node = stack.pop()
        visited += 1
        if visited > _PDF_MAX_NODES:
            return "more objects than can be checked"
        if isinstance(node, pikepdf.Stream):
            node = node.stream_dict
        if isinstance(node, pikepdf.Dictionary):
            keys = set(node.keys())
            active = keys & _PDF_ACTIVE_KEYS
            if active:
                return min(active)
            if "/S" in keys and str(node["/S"]) in _PDF_ACTIVE_ACTIONS:
                return f"action {node['/S']}"
            if "/Subtype" in keys and str(node["/Subtype"]) in _PDF_ACTIVE_SUBTYPES:
                return f"annotation {node['/Subtype']}"
            stack.extend(_nested(node.values(), pikepdf))
        elif isinstance(node, pikepdf.Array):
            stack.extend(_nested(node, pikepdf))
    return None


def _nested(values: Any, pikepdf: Any) -> Iterator[Any]:
    """The direct dictionaries, arrays and streams among ``values``."""
    for value in values:
        if isinstance(value, (pikepdf.Dictionary, pikepdf.Array, pikepdf.Stream)) and not value.is_indirect:
            yield value
