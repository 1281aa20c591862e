"""Builders for the labeler's tests: small catalogs of real PNG face crops (drawn with Pillow), as a
scrape or a dataset import stores them, and predictions written through db/ (as `train suggest`
will write them), and a watch on paint events."""
from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

from curation.crops import encode_crop
from db.types import ExtractionState, NewFace, NewImage, NewModel, NewPrediction, NewSource


def face_picture(seed: int, size: int = 100) -> Image.Image:
    """A distinct grayscale face-like picture per seed."""
    rng = random.Random(seed)
    img = Image.new("L", (size, size), rng.randint(20, 80))
    d = ImageDraw.Draw(img)
    d.ellipse((12, 8, 88, 96), fill=rng.randint(150, 230))
    for x in (34, 66):
        d.ellipse((x - 6, 38 + rng.randint(-3, 3), x + 6, 46), fill=30)
    d.arc((30, 60, 70, 82), 0, 180, fill=40, width=3 + seed % 3)
    for _ in range(6):
        x, y = rng.randrange(size), rng.randrange(size)
        d.point((x, y), fill=rng.randrange(256))
    return img


def add_faces(cat, n: int, *, source: str = "dataset", kind: str = "dataset", label=None, suggested=None,
              query: str | None = None, split_hint: str | None = None, seed: int = 0) -> list[int]:
    """n faces, each on its own original image (in the blob store), in one source; returns their ids.
    label / suggested: a value for every face, or a list with one per face."""
    sid = cat.add_source(NewSource(kind=kind, name=source, query=query))
    images, pictures = [], []
    for i in range(n):
        pic = face_picture(seed * 1000 + i)
        buf = io.BytesIO()
        pic.save(buf, format="PNG")
        sha, rel = cat.blobs.put_bytes(buf.getvalue(), "PNG")
        images.append(NewImage(sha256=sha, blob_path=rel, width=100, height=100, format="PNG", source_id=sid,
                               query=query, url=f"https://example.org/{source}/{i}.png" if query else None,
                               dataset_path=None if query else f"{source}/{i}.png"))
        pictures.append(pic)
    refs = cat.add_images(images)
    faces = []
    for i, (ref, pic) in enumerate(zip(refs, pictures)):
        png, phash, pixel_sha = encode_crop(pic, 100)
        faces.append((ref.id, NewFace(bbox=(0, 0, 100, 100), crop_png=png, crop_size=100, phash=phash,
                                      pixel_sha256=pixel_sha, label=_nth(label, i), suggested_label=_nth(suggested, i),
                                      split_hint=split_hint)))
    return cat.add_faces(faces)


def _nth(value, i):
    return value[i] if isinstance(value, (list, tuple)) else value


def add_no_face_images(cat, n: int, source: str = "bing: dogs") -> list[int]:
    sid = cat.add_source(NewSource(kind="scrape", name=source, query="dogs"))
    images = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (160, 120), (90 + i * 20, 140, 60)).save(buf, format="JPEG")
        sha, rel = cat.blobs.put_bytes(buf.getvalue(), "JPEG")
        images.append(NewImage(sha256=sha, blob_path=rel, width=160, height=120, format="JPEG", source_id=sid,
                               query="dogs", url=f"https://example.org/dog{i}.jpg"))
    ids = [r.id for r in cat.add_images(images)]
    for iid in ids:
        cat.save_extraction(iid, ExtractionState.NO_FACE)
    return ids


def add_model(cat, tmp_path, probabilities: dict[int, dict[str, float]], name: str = "m") -> int:
    mid = cat.register_model(NewModel(name=name, path=str(tmp_path / "models" / name), classes=cat.class_names()))
    cat.store_predictions(mid, [NewPrediction(fid, p) for fid, p in probabilities.items()])
    return mid


def second_session(cat):
    """Another connection pool on the same catalog: another person or process."""
    from db import open_catalog

    loc = cat.location
    return open_catalog(loc.url if loc.directory is None else loc.directory, loc.store_root)


def watch_paints(target, on_paint):
    """Calls on_paint() at every paint event that reaches target (a widget, or the application for
    every widget); returns the filter, for target.removeEventFilter."""
    from PySide6.QtCore import QEvent, QObject

    class PaintWatch(QObject):
        def eventFilter(self, obj, event):  # noqa: N802 (Qt's name)
            if event.type() == QEvent.Type.Paint:
                on_paint()
            return False

    watch = PaintWatch()
    target.installEventFilter(watch)
    return watch
