"""Decoding any image a user or a dataset hands us into one upright 8-bit grayscale array.

EXIF orientation is applied; palette, CMYK, 16-bit, float and alpha images are converted (alpha is
composited on white, as a viewer shows it); an animated image gives its first frame. A pixel cap
refuses decompression bombs before anything is decoded. Every failure is an UnreadableImage whose
message is the reason the catalog keeps.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 80_000_000  # about a 10,000 x 8,000 photo; anything larger is refused, not decoded


class UnreadableImage(Exception):
    """The image cannot be decoded; str(exc) is the reason, one line."""


@dataclass(frozen=True)
class Decoded:
    gray: np.ndarray  # (h, w) uint8, upright
    width: int  # size of the upright original, in pixels (bboxes are in these pixels)
    height: int
    scale: float  # gray's size / original size (< 1 when a large JPEG was decoded reduced)
    format: str  # Pillow's format name


def decode_gray(source: str | os.PathLike | bytes, max_pixels: int = MAX_PIXELS,
                keep_pixels: int | None = None) -> Decoded:
    """Decode an image file (or its bytes) to an upright grayscale array.

    keep_pixels: a large JPEG may be decoded at 1/2, 1/4 or 1/8 scale (libjpeg's draft mode: much
    faster) as long as at least this many pixels remain.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the pixels are still fine
            img = Image.open(io.BytesIO(source) if isinstance(source, bytes) else source)
            with img:
                return _decode(img, max_pixels, keep_pixels)
    except UnreadableImage:
        raise
    except FileNotFoundError as exc:
        raise UnreadableImage(f"file not found: {exc.filename}") from None
    except Image.DecompressionBombError as exc:  # Pillow's own check fires first on the very largest
        raise UnreadableImage(f"too large: {_one_line(exc)}") from None
    except UnidentifiedImageError:
        raise UnreadableImage("not an image (unknown or empty file)") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnreadableImage(f"cannot decode: {_one_line(exc)}") from None


def _decode(img: Image.Image, max_pixels: int, keep_pixels: int | None) -> Decoded:
    fmt = img.format or "unknown"
    raw_w, raw_h = img.size
    if raw_w * raw_h > max_pixels:
        raise UnreadableImage(f"too large: {raw_w}x{raw_h} pixels is over the cap of {max_pixels:,}")
    if raw_w == 0 or raw_h == 0:
        raise UnreadableImage("empty image (zero pixels)")
    if keep_pixels and fmt == "JPEG" and raw_w * raw_h > keep_pixels:
        f = math.sqrt(keep_pixels / (raw_w * raw_h))
        img.draft("L", (math.ceil(raw_w * f), math.ceil(raw_h * f)))
    img.load()  # first frame only, for animated images
    draft_scale = img.size[0] / raw_w
    img = ImageOps.exif_transpose(img)
    gray = _to_gray(img)
    # Orientation may swap width and height; the scale is uniform, so it maps either way.
    width, height = round(img.size[0] / draft_scale), round(img.size[1] / draft_scale)
    return Decoded(gray, width, height, draft_scale, fmt)


def _to_gray(img: Image.Image) -> np.ndarray:
    mode = img.mode
    if mode == "L":
        return np.asarray(img)
    if mode.startswith("I;16") or mode in ("I", "F"):
        # 16-bit / 32-bit / float: scale to 0..255 (convert("L") would clip everything above 255).
        a = np.asarray(img, dtype=np.float64)
        top = 255.0 if a.max() <= 255 else 65535.0 if a.max() <= 65535 else float(a.max())
        return np.clip(np.round(a * (255.0 / top)), 0, 255).astype(np.uint8)
    if mode == "1":
        return np.asarray(img.convert("L"))
    if mode == "P" or mode == "PA":
        img = img.convert("RGBA") if ("transparency" in img.info or mode == "PA") else img.convert("RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    elif mode not in ("RGB",):
        img = img.convert("RGB")  # CMYK, YCbCr, LAB, HSV
    return np.asarray(img.convert("L"))


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
