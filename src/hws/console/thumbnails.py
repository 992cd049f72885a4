"""Reproductions as the console shows them: decoded in full by Pillow (within the pixel
limit packages are held to), scaled down and encoded again as a new PNG that carries
nothing of the original file but its pixels.

The console never sends a reproduction's own bytes to be shown: a file named ``.jpg``
may hold an HTML page, and a valid image may carry a script in a comment or a text
chunk. What reaches the browser is always an image this module drew.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from hws.st96.media import DECODING_ERRORS, MAX_PIXELS

#: the longest side of a thumbnail on a request's page, and of a larger preview
THUMBNAIL_SIDE = 200  # the page shows them at most 200 px (console.css .thumbs img)
PREVIEW_SIDE = 1600

#: the media types of reproductions, and the one format each must decode as
FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}

_DECODING_ERRORS = (*DECODING_ERRORS, Image.DecompressionBombError, Image.DecompressionBombWarning)


class NotAnImage(ValueError):
    """The file cannot be shown as an image; the message says why."""


@dataclass(frozen=True)
class Drawn:
    """A PNG drawn from a reproduction's pixels, and the original's size."""

    png: bytes
    width: int
    height: int


def is_reproduction(media_type: str) -> bool:
    return media_type in FORMATS


def thumbnail(data: bytes, media_type: str, *, side: int = THUMBNAIL_SIDE, max_pixels: int = MAX_PIXELS) -> Drawn:
    """``data`` (of ``media_type``, ``image/jpeg`` or ``image/png``) drawn again as a
    PNG at most ``side`` pixels wide and high; :class:`NotAnImage` if it does not decode
    in full as that format within ``max_pixels``."""
    expected = FORMATS.get(media_type)
    if expected is None:
        raise NotAnImage(f"{media_type} is not a reproduction's type")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[expected]) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise NotAnImage(f"{width} × {height} pixels is more than the limit of {max_pixels}")
                image.load()  # every scan: a truncated or corrupt image fails here
                upright = ImageOps.exif_transpose(image)
                pixels = _plain(upright)
    except NotAnImage:
        raise
    except _DECODING_ERRORS as exc:
        raise NotAnImage(f"does not decode as a {expected} image ({type(exc).__name__})") from None
    pixels.thumbnail((side, side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    pixels.save(out, format="PNG", optimize=False)
    return Drawn(out.getvalue(), width, height)


def _plain(image: Image.Image) -> Image.Image:
    """A new image holding only ``image``'s pixels (RGB, RGBA or L): no comment, text
    chunk, EXIF, ICC profile or palette of the original comes along."""
    mode = image.mode
    if mode in ("1", "L", "I;16", "I", "F"):
        target = "L"
    elif "A" in mode or (mode == "P" and "transparency" in image.info) or mode == "PA":
        target = "RGBA"
    else:
        target = "RGB"
    converted = image.convert(target)
    return Image.frombytes(target, converted.size, converted.tobytes())
