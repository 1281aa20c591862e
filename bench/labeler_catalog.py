"""A generated catalog for the labeler's benchmark: N faces with real 100x100 PNG crops (synthetic
faces drawn with Pillow, a few hundred distinct pictures), 5 sources (2 scraped queries with
suggestions, 3 datasets with labels and split hints), duplicate groups, and one model's
predictions for every face.

    .venv/bin/python bench/labeler_catalog.py DIR [--faces 100000] [--pg URL --store DIR]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageDraw, ImageFilter  # noqa: E402

from db import open_catalog  # noqa: E402
from db.types import NewFace, NewImage, NewModel, NewPrediction, NewSource  # noqa: E402

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
SOURCES = [  # name, kind, query, has labels
    ("fer2013", "dataset", None, True),
    ("jaffe", "dataset", None, True),
    ("mmi", "dataset", None, False),
    ("bing: angry human face", "scrape", "angry human face", False),
    ("bing: happy person", "scrape", "happy person", False),
]


def synthetic_face(seed: int, size: int = 100) -> bytes:
    """A grayscale PNG that reads as a face at a glance: head, eyes, brows and a mouth that varies."""
    rng = random.Random(seed)
    img = Image.new("L", (size, size), rng.randint(30, 90))
    d = ImageDraw.Draw(img)
    skin = rng.randint(150, 220)
    d.ellipse((14, 8, 86, 96), fill=skin)
    for x in (35, 65):
        d.ellipse((x - 7, 38, x + 7, 46), fill=250)
        d.ellipse((x - 3, 39, x + 3, 45), fill=30)
        tilt = rng.randint(-5, 5)
        d.line((x - 9, 32 + tilt, x + 9, 32 - tilt), fill=60, width=3)
    d.line((50, 48, 47, 64), fill=skin - 40, width=2)
    curve = rng.randint(-12, 12)
    d.arc((34, 66 - abs(curve) // 2, 66, 78 + abs(curve) // 2), 0 if curve > 0 else 180,
          180 if curve > 0 else 360, fill=50, width=3)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def build(location: str, store: str | None, n: int, batch: int = 1000, distinct: int = 400) -> dict:
    rng = random.Random(0)
    crops = [synthetic_face(i) for i in range(distinct)]
    t0 = time.perf_counter()
    with open_catalog(location, store, create=True) as cat:
        source_ids = [cat.add_source(NewSource(kind=k, name=name, query=q, engine="bing" if q else None))
                      for name, k, q, _ in SOURCES]
        face_ids: list[int] = []
        for start in range(0, n, batch):
            items = []
            images = []
            for i in range(start, min(start + batch, n)):
                s = i % len(SOURCES)
                name, kind, query, labeled = SOURCES[s]
                suggested = query.split()[0] if query else None
                images.append(NewImage(
                    sha256=hashlib.sha256(f"img{i}".encode()).hexdigest(), blob_path=f"images/00/{i:064x}.jpg",
                    width=640, height=480, format="JPEG", source_id=source_ids[s], query=query,
                    url=f"https://example.org/{i}.jpg" if query else None,
                    dataset_path=None if query else f"{name}/{i}.png"))
                items.append((labeled, suggested, name == "fer2013"))
            refs = cat.add_images(images)
            faces = []
            for ref, (labeled, suggested, fer) in zip(refs, items):
                k = rng.randrange(distinct)
                faces.append((ref.id, NewFace(
                    bbox=(100, 80, 120, 120), crop_png=crops[k], crop_size=100, phash=f"{rng.getrandbits(64):016x}",
                    pixel_sha256=hashlib.sha256(f"px{ref.id}".encode()).hexdigest(), detector="hog", score=1.0,
                    label=rng.choice(CLASSES) if labeled else None, suggested_label=suggested,
                    split_hint=rng.choice(["Training", "Training", "PublicTest"]) if fer else None)))
            face_ids += cat.add_faces(faces)
        # Duplicate groups: every 50th face with its neighbour.
        groups = {}
        for i in range(0, len(face_ids) - 1, 50):
            groups[face_ids[i]] = groups[face_ids[i + 1]] = face_ids[i]
        cat.set_duplicate_groups(groups)
        model_id = cat.register_model(NewModel(name="bench-model", path=f"/models/bench-{n}", classes=CLASSES))
        preds = []
        for fid in face_ids:
            raw = [rng.random() ** 3 for _ in CLASSES]
            total = sum(raw)
            preds.append(NewPrediction(fid, {c: v / total for c, v in zip(CLASSES, raw)}))
            if len(preds) == 5000:
                cat.store_predictions(model_id, preds)
                preds = []
        if preds:
            cat.store_predictions(model_id, preds)
        cat.optimize()
    return {"faces": n, "model_id": model_id, "build_s": round(time.perf_counter() - t0, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("location", help="catalog directory (SQLite), or a PostgreSQL URL with --store")
    ap.add_argument("--store", default=None)
    ap.add_argument("--faces", type=int, default=100_000)
    args = ap.parse_args()
    print(build(args.location, args.store, args.faces))


if __name__ == "__main__":
    main()
