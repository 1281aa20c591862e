"""Each exported face's pixels, as a (size, size) uint8 array.

A face whose crop already has the export size is used as stored. A pre-cropped dataset face (no
detector, the face is the whole original picture) asked for at its original size comes from the
original picture, so FER2013's 48x48 faces export pixel for pixel as they were imported. Anything
else is the stored crop resized with Lanczos (curation.crops.to_gray_square).
"""
from __future__ import annotations

import io
from typing import Iterator, Sequence

import numpy as np
from PIL import Image

from curation.crops import to_gray_square
from curation.imaging import decode_gray
from curation.selection import SplitAssignment
from db.catalog import Catalog

BATCH = 500  # faces whose crops are read from the catalog at once


def _is_whole_picture(a: SplitAssignment, size: int) -> bool:
    return a.face.detector == "none" and a.face.bbox == (0, 0, size, size)


def face_pixels(catalog: Catalog, assignments: Sequence[SplitAssignment], size: int) -> Iterator[np.ndarray]:
    """The pixels of each assignment's face at size x size, in the order given."""
    for i in range(0, len(assignments), BATCH):
        chunk = assignments[i : i + BATCH]
        crops = catalog.crops([a.face.id for a in chunk])
        originals = catalog.image_blob_paths(
            [a.face.image_id for a in chunk if a.face.crop_size != size and _is_whole_picture(a, size)]
        )
        for a in chunk:
            yield _pixels(catalog, a, crops[a.face.id], originals.get(a.face.image_id), size)


def _pixels(catalog: Catalog, a: SplitAssignment, crop_png: bytes, original: str | None, size: int) -> np.ndarray:
    if original is not None:
        gray = decode_gray(catalog.blobs.read(original)).gray
        if gray.shape == (size, size):
            return gray
    with Image.open(io.BytesIO(crop_png)) as img:
        return np.asarray(to_gray_square(img, size))
