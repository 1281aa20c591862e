"""Encoding a face crop into the catalog's fields: PNG bytes, perceptual hash, pixel hash.

One function, shared by extraction, the importers and dedupe, so that "same pixels" and
"similar picture" mean the same thing everywhere. The resize itself is db.pixels.to_gray_square,
the one every reader of a crop uses too.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

from db.pixels import to_gray_square

__all__ = ["encode_crop", "encode_precropped", "EncodedCrop", "to_gray_square"]


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    # zlib level 1: a third faster than the default 6 for ~10% larger files (imports write 30,000+).
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _hashes(img: Image.Image) -> tuple[str, str]:
    return str(imagehash.phash(img)), hashlib.sha256(img.tobytes()).hexdigest()


def encode_crop(crop: np.ndarray | Image.Image, size: int) -> tuple[bytes, str, str]:
    """(png_bytes, phash_hex, pixel_sha256) of a crop, as `db.types.NewFace` stores them.

    phash: imagehash.phash of the size x size grayscale crop (64 bits, 16 hex digits; compare with
    Hamming distance). pixel_sha256: sha256 of the raw uint8 grayscale pixels, row-major, so two
    crops with the same pixels match whatever PNG encoder wrote them.
    """
    img = to_gray_square(crop, size)
    return (_png(img), *_hashes(img))


@dataclass(frozen=True)
class EncodedCrop:
    png: bytes
    stored_size: int  # the PNG's side: size, or the picture's own side when smaller
    phash: str  # of the face at `size` (db.pixels.crop_pixels(png, size)), as for any other face
    pixel_sha256: str


def encode_precropped(picture: np.ndarray, size: int) -> EncodedCrop:
    """A dataset picture that is a face already: a square one smaller than size is stored at its
    own size (native-size crop); anything else at size. The hashes are those of the face at size,
    so they compare with every other face's (and with catalogs made before native-size crops)."""
    at_size = to_gray_square(picture, size)
    phash, pixel_sha = _hashes(at_size)
    h, w = picture.shape[:2]
    if h == w and w < size:
        return EncodedCrop(_png(to_gray_square(picture, w)), w, phash, pixel_sha)
    return EncodedCrop(_png(at_size), size, phash, pixel_sha)
