"""Extraction benchmark: `curate extract` against a plain face_recognition loop, on the same photos.

    .venv/bin/python bench/bench_extract.py [--workers 2]

Photos from ../shared/data: face_recognition's examples and tests (32 files, 26 distinct), dlib's
PASCAL VOC photos (12 JPEGs) and JAFFE (213 TIFFs). facecat: the images stored in a fresh SQLite catalog (not timed,
as a scrape or import leaves them), then run_extraction (decode, detect, 5 landmarks, aligned chip,
grayscale 100x100 PNG, catalog writes) on --workers processes. Baseline: one process looping over
face_recognition.load_image_file + face_locations (HOG, its default one upsampling) + a crop to a
100x100 grayscale, the way a script using that library is written.

Goal (issue 4): >= 1.8x the baseline's images/s on the 2-core machine, with the same faces found.
Needs face_recognition: `pip install --no-deps face_recognition` (see pyproject's bench extra).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import face_recognition  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from curation.extract import iou, run_extraction  # noqa: E402
from curation.faces import ExtractSettings  # noqa: E402
from db import open_catalog  # noqa: E402
from db.types import NewImage, NewSource  # noqa: E402

SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
SETS = {
    "face_recognition": lambda: sorted(p for p in (SHARED / "photos/face_recognition").rglob("*") if p.is_file()),
    "dlib": lambda: sorted((SHARED / "photos/dlib").glob("*.jpg")),
    "jaffe": lambda: sorted((SHARED / "jaffe").glob("*.tiff")),
}


def unique(paths: list[Path]) -> list[Path]:
    """One path per distinct file: face_recognition's set repeats some photos byte for byte, and
    the catalog would extract those once, which would flatter facecat."""
    seen, out = set(), []
    for p in paths:
        digest = hashlib.sha256(p.read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            out.append(p)
    return out


def baseline(paths: list[Path]) -> tuple[float, dict[Path, list[tuple[int, int, int, int]]]]:
    boxes = {}
    t0 = time.perf_counter()
    for p in paths:
        img = face_recognition.load_image_file(str(p))
        found = []
        for top, right, bottom, left in face_recognition.face_locations(img):
            crop = Image.fromarray(img[top:bottom, left:right]).convert("L").resize((100, 100))
            crop.tobytes()
            found.append((left, top, right - left, bottom - top))
        boxes[p] = found
    return time.perf_counter() - t0, boxes


def facecat(paths: list[Path], workers: int) -> tuple[float, dict[Path, list[tuple[int, int, int, int]]]]:
    with tempfile.TemporaryDirectory() as tmp, open_catalog(Path(tmp) / "catalog", create=True) as cat:
        sid = cat.add_source(NewSource(kind="dataset", name="bench"))
        images = []
        for p in paths:
            sha, rel = cat.blobs.put_bytes(p.read_bytes(), "bin")
            images.append(NewImage(sha256=sha, blob_path=rel, width=0, height=0, format="?", source_id=sid,
                                   dataset_path=str(p)))
        refs = cat.add_images(images)
        t0 = time.perf_counter()
        run_extraction(cat, ExtractSettings(), workers=workers)
        seconds = time.perf_counter() - t0
        by_image: dict[int, list] = {}
        for f in cat.iter_faces():
            by_image.setdefault(f.image_id, []).append(f.bbox)
        return seconds, {p: by_image.get(r.id, []) for p, r in zip(paths, refs)}


def matched(a: dict, b: dict) -> int:
    """Faces of a that b also found (IoU >= 0.4: the detectors' boxes differ in size a little)."""
    return sum(1 for p, boxes in a.items() for x in boxes if any(iou(x, y) >= 0.4 for y in b[p]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no shared data at {SHARED}")
    print(f"machine: {os.cpu_count()} cores, {platform.python_version()}, workers {args.workers}")
    print("| set | images | face_recognition s (img/s) | facecat s (img/s) | speed-up | faces fr / facecat | fr's faces facecat found | facecat's faces fr found |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    totals = np.zeros(5)
    all_fr, all_fc = {}, {}
    for name, listing in SETS.items():
        paths = unique(listing())
        fc_s, fc = facecat(paths, args.workers)
        fr_s, fr = baseline(paths)
        n_fr, n_fc = sum(map(len, fr.values())), sum(map(len, fc.values()))
        row = (len(paths), fr_s, fc_s, n_fr, n_fc)
        totals += row
        all_fr.update(fr)
        all_fc.update(fc)
        print(f"| {name} | {len(paths)} | {fr_s:.2f} ({len(paths) / fr_s:.1f}) | {fc_s:.2f} ({len(paths) / fc_s:.1f}) "
              f"| {fr_s / fc_s:.2f}x | {n_fr} / {n_fc} | {matched(fr, fc)} | {matched(fc, fr)} |")
    n, fr_s, fc_s, n_fr, n_fc = totals
    print(f"| **all** | {int(n)} | {fr_s:.2f} ({n / fr_s:.1f}) | {fc_s:.2f} ({n / fc_s:.1f}) | **{fr_s / fc_s:.2f}x** "
          f"| {int(n_fr)} / {int(n_fc)} | {matched(all_fr, all_fc)} | {matched(all_fc, all_fr)} |")


if __name__ == "__main__":
    main()
