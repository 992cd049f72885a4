"""Small, valid specimen files made in code: a JPEG, a PNG, a PDF.

For test packages and dry runs (``hws package build`` fills files a spec names but does
not provide with these). No imaging library needed: each format is written by hand.
"""

from __future__ import annotations

import struct
import zlib


def jpeg(width: int = 8, height: int = 8) -> bytes:
    """A baseline grayscale JPEG (JFIF) of a uniform mid-gray, decodable by any reader.

    Every 8×8 block has DC difference 0 and no AC coefficient, so each block codes as two
    bits (DC category 0, then end-of-block) with one-symbol Huffman tables.
    """
    if not (0 < width <= 65535 and 0 < height <= 65535):
        raise ValueError("width and height must be within 1..65535")

    def segment(marker: int, payload: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload

    jfif = segment(0xE0, b"JFIF\x00\x01\x01\x01\x01\x2c\x01\x2c\x00\x00")  # 300 dpi
    dqt = segment(0xDB, b"\x00" + b"\x01" * 64)
    sof0 = segment(0xC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
    one_code_len1 = bytes([1] + [0] * 15)
    dht = segment(0xC4, b"\x00" + one_code_len1 + b"\x00" + b"\x10" + one_code_len1 + b"\x00")
    sos = segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    blocks = -(-width // 8) * -(-height // 8)
    bits = 2 * blocks
    scan = bytearray(b"\x00" * (bits // 8))
    if bits % 8:
        scan.append((1 << (8 - bits % 8)) - 1)  # pad the last byte with 1-bits
    return b"\xff\xd8" + jfif + dqt + sof0 + dht + sos + bytes(scan) + b"\xff\xd9"


def png(width: int = 8, height: int = 8, grey: int = 128) -> bytes:
    """A uniform grayscale PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = (b"\x00" + bytes([grey]) * width) * height
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def pdf(text: str = "hws specimen", *, payload: bytes = b"") -> bytes:
    """A one-page PDF 1.4 showing ``text`` (ASCII), with a correct cross-reference table;
    ``payload`` goes into an extra binary stream object (large specimen documents)."""
    safe = text.encode("ascii", "replace").replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    stream = b"BT /F1 18 Tf 72 720 Td (" + safe + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    if payload:
        objects.append(b"<< /Length " + str(len(payload)).encode() + b" >>\nstream\n" + payload + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def for_name(name: str) -> bytes:
    """A specimen matching a file name's extension (.jpg/.jpeg, .png, .pdf)."""
    lower = name.lower()
    if lower.endswith((".jpg", ".jpeg")):
        return jpeg()
    if lower.endswith(".png"):
        return png()
    if lower.endswith(".pdf"):
        return pdf(name)
    raise ValueError(f"no specimen for {name!r}; only .jpg, .jpeg, .png and .pdf")
