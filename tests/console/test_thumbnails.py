"""Thumbnails: reproductions decoded in full within the pixel limit and drawn again as
a PNG holding only their pixels, whatever else the file carried."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest
from PIL import Image, PngImagePlugin

from hws.console.thumbnails import PREVIEW_SIDE, THUMBNAIL_SIDE, NotAnImage, thumbnail
from hws.st96 import specimens
from hws.st96.examples import example_package

SCRIPT = b"<script>alert(document.cookie)</script>"


def _decoded(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    image.load()
    return image


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def test_the_example_package_reproductions() -> None:
    with zipfile.ZipFile(io.BytesIO(example_package("application"))) as package:
        files = {name: package.read(name) for name in package.namelist()}
    for name, media_type in (("images/1.1.jpg", "image/jpeg"), ("images/1.2.png", "image/png"), ("images/2.1.jpg", "image/jpeg")):
        drawn = thumbnail(files[name], media_type)
        image = _decoded(drawn.png)
        assert image.size == (drawn.width, drawn.height) == (8, 8)  # never enlarged
        assert image.getpixel((3, 3)) in (128, 127, 129)  # the specimens' mid-grey


def test_large_images_are_scaled_down_keeping_their_shape() -> None:
    photo = Image.linear_gradient("L").resize((1200, 600)).convert("RGB")
    for fmt, media_type in (("JPEG", "image/jpeg"), ("PNG", "image/png")):
        drawn = thumbnail(_saved(photo, fmt), media_type)
        assert (drawn.width, drawn.height) == (1200, 600)
        assert _decoded(drawn.png).size == (THUMBNAIL_SIDE, THUMBNAIL_SIDE // 2)
        assert _decoded(thumbnail(_saved(photo, fmt), media_type, side=PREVIEW_SIDE).png).size == (1200, 600)


def test_transparency_and_palettes_survive_as_plain_pixels() -> None:
    rgba = Image.new("RGBA", (40, 20), (10, 20, 30, 0))
    assert _decoded(thumbnail(_saved(rgba, "PNG"), "image/png").png).mode == "RGBA"
    palette = Image.new("P", (40, 20), 3)
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255] * 64)
    drawn = _decoded(thumbnail(_saved(palette, "PNG"), "image/png").png)
    assert drawn.mode == "RGB" and drawn.getpixel((0, 0)) == (0, 0, 255)


def test_a_script_in_a_png_text_chunk_is_not_copied() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", SCRIPT.decode())
    info.add_itxt("Description", "<svg onload=alert(1)>")
    original = _saved(Image.new("RGB", (300, 300), (200, 10, 10)), "PNG", pnginfo=info)
    assert SCRIPT in original
    drawn = thumbnail(original, "image/png").png
    assert SCRIPT not in drawn and b"<svg" not in drawn and b"tEXt" not in drawn and b"iTXt" not in drawn
    assert _decoded(drawn).info.get("Comment") is None


def test_a_script_in_a_jpeg_comment_or_exif_is_not_copied() -> None:
    exif = Image.Exif()
    exif[0x010E] = "<script>alert('exif')</script>"  # ImageDescription
    original = _saved(Image.new("RGB", (300, 200), (10, 200, 10)), "JPEG", comment=SCRIPT, exif=exif.tobytes())
    assert SCRIPT in original and b"alert('exif')" in original
    drawn = thumbnail(original, "image/jpeg").png
    assert SCRIPT not in drawn and b"<script" not in drawn and b"eXIf" not in drawn
    assert _decoded(drawn).size == (THUMBNAIL_SIDE, THUMBNAIL_SIDE * 2 // 3)


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body><script>alert(1)</script></body></html>",
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        b"\xff\xd8\xff\xe0<html><script>alert(1)</script>",  # JPEG's magic bytes, then a page
        b"",
    ],
    ids=["html", "svg", "jpeg-magic-then-html", "empty"],
)
def test_markup_is_not_an_image(data: bytes) -> None:
    for media_type in ("image/jpeg", "image/png"):
        with pytest.raises(NotAnImage):
            thumbnail(data, media_type)


def test_only_the_format_its_type_names() -> None:
    with pytest.raises(NotAnImage):
        thumbnail(specimens.png(), "image/jpeg")
    with pytest.raises(NotAnImage):
        thumbnail(specimens.jpeg(), "image/png")
    with pytest.raises(NotAnImage, match="reproduction"):
        thumbnail(specimens.pdf(), "application/pdf")
    gif = _saved(Image.new("L", (4, 4)), "GIF")
    with pytest.raises(NotAnImage):
        thumbnail(gif, "image/png")


def test_a_truncated_image_is_refused() -> None:
    whole = _saved(Image.effect_noise((200, 200), 50), "PNG")
    with pytest.raises(NotAnImage):
        thumbnail(whole[: len(whole) // 2], "image/png")
    jpeg = _saved(Image.effect_noise((200, 200), 50).convert("RGB"), "JPEG")
    thumbnail(jpeg, "image/jpeg")
    with pytest.raises(NotAnImage):
        thumbnail(jpeg[:200], "image/jpeg")


def test_more_pixels_than_the_limit_are_refused_before_decoding() -> None:
    big = specimens.png(400, 300)
    assert thumbnail(big, "image/png", max_pixels=120_000).width == 400
    with pytest.raises(NotAnImage, match="more than the limit"):
        thumbnail(big, "image/png", max_pixels=119_999)
    # 7,000 × 7,000 pixels (more than the 40 megapixels packages may have) in some 50 kB
    with pytest.raises(NotAnImage, match="more than the limit of 40000000"):
        thumbnail(_blank_png(7_000, 7_000), "image/png")
    # far more: Pillow's own bomb check stops it
    with pytest.raises(NotAnImage):
        thumbnail(_blank_png(20_000, 20_000, rows=1), "image/png")


def _blank_png(width: int, height: int, rows: int | None = None) -> bytes:
    """A black greyscale PNG of ``width`` × ``height`` (only ``rows`` rows of data if given)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = b"\x00" * (width + 1)
    data = b"".join(packer.compress(row) for _ in range(height if rows is None else rows)) + packer.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
