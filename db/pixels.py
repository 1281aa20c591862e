"""A face's crop at the size a reader wants: the one resize every stage uses.

A crop is stored as a grayscale PNG. Detected faces are stored at the catalog's crop size (`crop_size`,
e.g. 100). A dataset's pre-cropped face smaller than that is kept at its own size (FER2013's 48x48:
`stored_size` 48, `crop_size` 100), a third of the bytes and no invented detail. Readers that need
a fixed size (export, training, the labeler) decode through `crop_pixels` / `crop_png_at` here, so
every stage sees the same pixels: Lanczos, as the importers always resized, so a 48x48 crop read
at 100 is pixel for pixel the crop an import at 100 stored before native-size crops. A face's
phash and pixel_sha256 describe it at `crop_size` (those pixels), whatever size is stored.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image


def to_gray_square(crop: np.ndarray | Image.Image, size: int) -> Image.Image:
    """A size x size 8-bit grayscale image ("L") from any crop (resized with Lanczos if needed)."""
    img = crop if isinstance(crop, Image.Image) else Image.fromarray(np.asarray(crop))
    if img.mode != "L":
        img = img.convert("L")
    if img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.LANCZOS)
    return img


def crop_image(png: bytes, size: int) -> Image.Image:
    """A stored crop (PNG bytes, any stored size) as a size x size grayscale PIL image."""
    with Image.open(io.BytesIO(png)) as img:
        img.load()
        return to_gray_square(img, size)


def crop_pixels(png: bytes, size: int) -> np.ndarray:
    """A stored crop as (size, size) uint8 grayscale pixels (what training and export decode)."""
    return np.asarray(crop_image(png, size))


def png_side(png: bytes) -> int | None:
    """The width of a PNG from its header, without decoding (None: not a PNG)."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 24:
        return None
    return int.from_bytes(png[16:20], "big")


def crop_png_at(png: bytes, size: int) -> bytes:
    """A stored crop as PNG bytes at size x size: the stored bytes as they are when already that size."""
    if png_side(png) == size:
        return png
    buf = io.BytesIO()
    crop_image(png, size).save(buf, format="PNG")
    return buf.getvalue()
