"""Builders for curation tests: small catalogs of synthetic grayscale faces, stored through the db API
exactly as a pre-cropped dataset import stores them (original image in the blob store, crop by
curation.crops.encode_crop)."""
from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from curation.crops import encode_crop
from db.types import NewFace, NewImage, NewSource


def pattern(seed: int, size: int = 48) -> Image.Image:
    """A distinct smooth grayscale picture per seed (its phash is far from other seeds')."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (8, 8), dtype=np.uint8)
    img = Image.fromarray(small, "L").resize((size, size), Image.Resampling.BICUBIC)
    # Fine noise on top, so every pixel value occurs and pixel hashes differ across seeds.
    noise = rng.integers(-8, 9, (size, size))
    return Image.fromarray(np.clip(np.asarray(img, dtype=int) + noise, 0, 255).astype(np.uint8), "L")


def nudged(img: Image.Image, seed: int = 1, amount: int = 3) -> Image.Image:
    """The same picture with faint noise: a near duplicate (same phash or within a few bits)."""
    rng = np.random.default_rng(seed)
    a = np.asarray(img, dtype=int) + rng.integers(-amount, amount + 1, img.size[::-1])
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "L")


@dataclass(frozen=True)
class FaceSpec:
    image: Image.Image
    label: str | None = "happy"
    split_hint: str | None = None
    dataset_path: str | None = None
    suggested_label: str | None = None


def add_dataset(cat, specs: list[FaceSpec], source: str = "test", crop_size: int = 100) -> list[int]:
    """One dataset source with one pre-cropped face per image; returns the face ids in order.

    Each original picture goes into the blob store as PNG, its face covers the whole picture and
    the crop is resized to crop_size, as `curate import ... --crop none` does.
    """
    sid = cat.add_source(NewSource(kind="dataset", name=source, path=f"/data/{source}"))
    images, faces = [], []
    for i, spec in enumerate(specs):
        buf = io.BytesIO()
        spec.image.save(buf, format="PNG")
        sha, rel = cat.blobs.put_bytes(buf.getvalue(), "PNG")
        w, h = spec.image.size
        images.append(NewImage(sha256=sha, blob_path=rel, width=w, height=h, format="PNG", source_id=sid,
                               dataset_path=spec.dataset_path or f"{source}/{i}.png"))
    refs = cat.add_images(images)
    for ref, spec in zip(refs, specs):
        png, phash, pixel_sha = encode_crop(spec.image, crop_size)
        faces.append((ref.id, NewFace(bbox=(0, 0, *spec.image.size), crop_png=png, crop_size=crop_size,
                                      phash=phash, pixel_sha256=pixel_sha, label=spec.label,
                                      split_hint=spec.split_hint, suggested_label=spec.suggested_label)))
    return cat.add_faces(faces)


@pytest.fixture
def labeled_catalog(catalog):
    """A catalog of 120 distinct faces: 60 happy, 40 sad, 20 angry, in one dataset source."""
    labels = ["happy"] * 60 + ["sad"] * 40 + ["angry"] * 20
    add_dataset(catalog, [FaceSpec(pattern(i), label) for i, label in enumerate(labels)], source="synth")
    return catalog


def add_raw_images(cat, files: dict[str, bytes], source: str = "raw", label: str | None = None) -> dict[str, int]:
    """Store these bytes as pending images of one scrape-like source, whatever they hold (corrupt
    files included: extraction must cope), as a downloader would; returns name -> image id."""
    sid = cat.add_source(NewSource(kind="scrape", name=source))
    images = []
    for name, data in files.items():
        sha, rel = cat.blobs.put_bytes(data, "bin")
        images.append(NewImage(sha256=sha, blob_path=rel, width=0, height=0, format="?", source_id=sid,
                               url=f"http://127.0.0.1/{name}", label=label))
    return {name: ref.id for name, ref in zip(files, cat.add_images(images))}
