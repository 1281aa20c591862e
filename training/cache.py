"""The faces of a selection as pixel arrays, decoded once into a local cache.

Keyed by the selection's snapshot hash (curation.export.manifest.snapshot_sha256: it changes when a
selected face's label, status, pixels or duplicate group does) and the input size, so a second fit
or evaluation of the same selection starts at once. The pictures come from
curation.export.pixels.face_pictures: the same pixels `curate export` writes at that size (FER2013's
48x48 originals as they were imported; detected faces' aligned crops resized with Lanczos).

Cache directory: $FACECAT_CACHE, else $XDG_CACHE_HOME/facecat, else ~/.cache/facecat.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from curation.export.manifest import snapshot_sha256
from curation.export.pixels import face_pictures
from curation.selection import SplitAssignment
from db.catalog import Catalog

CACHE_VERSION = 1  # bump when the cached pixels would change for the same faces


def cache_dir() -> Path:
    if os.environ.get("FACECAT_CACHE"):
        return Path(os.environ["FACECAT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facecat"


def pixel_hash(pixels: np.ndarray) -> str:
    """A face's identity across files: sha256 of its uint8 pixels (row-major), first 16 hex digits."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()[:16]


@dataclass(frozen=True)
class CachedPixels:
    face_ids: np.ndarray  # (N,) int64, in the order asked for
    pixels: np.ndarray  # (N, size, size) uint8
    path: Path | None  # the cache file (None when not cached)
    hit: bool  # read from the cache rather than decoded now

    def hashes(self) -> list[str]:
        return [pixel_hash(p) for p in self.pixels]


def selection_pixels(catalog: Catalog, assignments: Sequence[SplitAssignment], size: int,
                     progress=None, use_cache: bool = True) -> CachedPixels:
    """Pixels of these faces at size x size, in the order given, through the cache.

    progress: a tqdm-like bar advanced once per decoded face (nothing on a cache hit).
    """
    ids = np.array([a.face.id for a in assignments], dtype=np.int64)
    key = hashlib.sha256(f"{CACHE_VERSION}:{size}:{snapshot_sha256(list(assignments))}".encode()).hexdigest()[:32]
    path = cache_dir() / "faces" / f"{key}-{size}px.npz"
    if use_cache:
        cached = _read(path, ids)
        if cached is not None:
            return CachedPixels(ids, cached, path, True)
    pixels = np.zeros((len(ids), size, size), dtype=np.uint8)
    if progress is not None:
        progress.reset(total=len(ids))
    for i, picture in enumerate(face_pictures(catalog, list(assignments), size)):
        pixels[i] = picture.pixels
        if progress is not None:
            progress.update(1)
    if use_cache:
        _write(path, ids, pixels)
    return CachedPixels(ids, pixels, path if use_cache else None, False)


def _read(path: Path, ids: np.ndarray) -> np.ndarray | None:
    try:
        with np.load(path) as data:
            if np.array_equal(data["face_ids"], ids):
                return data["pixels"]
    except (OSError, ValueError, KeyError, EOFError):  # absent, partial or foreign: decode again
        pass
    return None


def _write(path: Path, ids: np.ndarray, pixels: np.ndarray) -> None:
    """Atomically (a temporary file renamed into place); a cache that cannot be written is skipped."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, face_ids=ids, pixels=pixels)
        os.replace(tmp, path)
    except OSError:
        pass
