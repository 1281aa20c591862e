"""Each exported face's picture at the export size: its pixels, or a PNG of them.

A face whose stored crop already has the export size is used as stored (its PNG bytes are written
as they are, nothing decoded): FER2013's 48x48 faces, kept at their own size, export pixel for pixel
at 48. In a catalog made before native-size crops, a pre-cropped dataset face (no detector, the face
is the whole original picture) asked for at its original size comes from the original picture, for
the same result. Anything else is the stored crop resized on read (db.pixels.crop_pixels, Lanczos),
the resize every stage uses.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cached_property
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from curation.imaging import decode_gray
from curation.selection import SplitAssignment
from db.catalog import Catalog
from db.pixels import crop_pixels

BATCH = 500  # faces whose crops are read from the catalog at once


@dataclass(frozen=True)
class Picture:
    """One face at size x size; only what a writer asks for is computed."""

    size: int
    crop_png: bytes  # the stored crop
    stored_size: int  # its side
    original: bytes | None = None  # the original picture, when it is the face at this size

    @cached_property
    def pixels(self) -> np.ndarray:
        """(size, size) uint8 grayscale."""
        if self.original is not None:
            gray = decode_gray(self.original).gray
            if gray.shape == (self.size, self.size):
                return gray
        return crop_pixels(self.crop_png, self.size)

    @cached_property
    def png(self) -> bytes:
        if self.stored_size == self.size:
            return self.crop_png
        buf = io.BytesIO()
        Image.fromarray(self.pixels, "L").save(buf, format="PNG")
        return buf.getvalue()


def _is_whole_picture(a: SplitAssignment, size: int) -> bool:
    return a.face.stored_size != size and a.face.detector == "none" and a.face.bbox == (0, 0, size, size)


def face_pictures(catalog: Catalog, assignments: Sequence[SplitAssignment], size: int) -> Iterator[Picture]:
    """The picture of each assignment's face at size x size, in the order given."""
    for i in range(0, len(assignments), BATCH):
        chunk = assignments[i : i + BATCH]
        crops = catalog.crops([a.face.id for a in chunk])
        originals = catalog.image_blob_paths([a.face.image_id for a in chunk if _is_whole_picture(a, size)])
        for a in chunk:
            blob = originals.get(a.face.image_id) if _is_whole_picture(a, size) else None
            yield Picture(size, crops[a.face.id], a.face.stored_size,
                          catalog.blobs.read(blob) if blob is not None else None)
