"""Catalog benchmark: insert 100,000 faces with 5 KB PNG crops, then select filtered pages of 200.

    .venv/bin/python bench/bench_catalog.py                       # SQLite in a temp directory
    .venv/bin/python bench/bench_catalog.py --pg URL              # also on a PostgreSQL server
    .venv/bin/python bench/bench_catalog.py --pg auto             # start a throwaway server (scripts/pg-throwaway)

Goal (issue 2): the inserts in under 30 s, a page in under 20 ms, on the 2-core reference machine.
The insert goes through the repository API (Catalog.add_images + add_faces) in batches of 1,000, as
the importers do; blob writes are not included (they belong to the importers' own benchmark).
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db import open_catalog  # noqa: E402
from db.types import FaceFilter, NewFace, NewImage, NewSource  # noqa: E402

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def run(location: str, store: Path, n: int, crop_bytes: int, batch: int, pages: int) -> dict:
    rng = random.Random(0)
    crop = os.urandom(crop_bytes)  # the database cannot tell random bytes from a real PNG
    with open_catalog(location, store, create=True) as cat:
        sources = [cat.add_source(NewSource(kind="dataset", name=f"source{i}")) for i in range(5)]
        t0 = time.perf_counter()
        for start in range(0, n, batch):
            images = [
                NewImage(sha256=f"{i:064x}", blob_path=f"images/{i % 256:02x}/{i:064x}.jpg", width=640,
                         height=480, format="JPEG", source_id=sources[i % 5], url=f"https://example.com/{i}.jpg")
                for i in range(start, min(start + batch, n))
            ]
            refs = cat.add_images(images)
            cat.add_faces([
                (ref.id, NewFace(bbox=(10, 20, 100, 100), crop_png=crop, crop_size=100, phash=f"{rng.getrandbits(64):016x}",
                                 pixel_sha256=f"{ref.id:064x}", detector="hog", score=1.0,
                                 landmarks=[(1.0, 2.0)] * 5, label=rng.choice(CLASSES + [None])))
                for ref in refs
            ])
        cat.optimize()  # what an import does at its end: fresh planner statistics
        insert_s = time.perf_counter() - t0
        assert cat.stats()["faces"] == n

        flt = FaceFilter(selection="labeled", labels=("happy", "sad"), sources=("source1", "source3"))
        total = cat.count_faces(flt)
        max_id = n
        timings = []
        for _ in range(pages):
            after = rng.randrange(0, max_id)
            t = time.perf_counter()
            page = cat.select_faces(flt, after_id=after, limit=200)
            timings.append((time.perf_counter() - t) * 1000)
            assert all(f.label in ("happy", "sad") for f in page)
        t = time.perf_counter()
        thumbs = cat.select_faces(flt, limit=200, with_crops=True)
        with_crops_ms = (time.perf_counter() - t) * 1000
        assert len(thumbs) == 200
    return {
        "backend": location.split(":", 1)[0] if "://" in location else "sqlite",
        "faces": n, "insert_s": round(insert_s, 2), "faces_per_s": round(n / insert_s),
        "matching_faces": total,
        "page_ms_median": round(statistics.median(timings), 2),
        "page_ms_p95": round(sorted(timings)[int(0.95 * len(timings)) - 1], 2),
        "page_with_crops_ms": round(with_crops_ms, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--crop-bytes", type=int, default=5_000)
    ap.add_argument("--batch", type=int, default=1_000)
    ap.add_argument("--pages", type=int, default=50)
    ap.add_argument("--pg", help="PostgreSQL URL, or 'auto' to start a throwaway server")
    args = ap.parse_args()

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    tmp = Path(tempfile.mkdtemp(prefix="facecat-bench-"))
    results = [run(str(tmp / "sqlite"), tmp / "sqlite", args.faces, args.crop_bytes, args.batch, args.pages)]
    print(results[-1], flush=True)
    pg_dir = None
    if args.pg:
        url = args.pg
        if url == "auto":
            pg_dir = Path(tempfile.mkdtemp(prefix="facecat-bench-pg-"))  # postgres must reach it
            url = subprocess.run(["bash", "scripts/pg-throwaway", "start", str(pg_dir)], check=True,
                                 capture_output=True, text=True).stdout.strip()
        try:
            results.append(run(url, tmp / "pg-blobs", args.faces, args.crop_bytes, args.batch, args.pages))
            print(results[-1], flush=True)
        finally:
            if pg_dir:
                subprocess.run(["bash", "scripts/pg-throwaway", "stop", str(pg_dir)])
    shutil.rmtree(tmp, ignore_errors=True)  # ~1 GB per run
    print("\n| backend | faces | insert (s) | faces/s | page of 200, median (ms) | p95 (ms) | page with crops (ms) |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['backend']} | {r['faces']:,} | {r['insert_s']} | {r['faces_per_s']:,} | "
              f"{r['page_ms_median']} | {r['page_ms_p95']} | {r['page_with_crops_ms']} |")


if __name__ == "__main__":
    main()
