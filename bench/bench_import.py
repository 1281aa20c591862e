"""Import benchmark: the full FER2013 image folders (32,298 faces) into a fresh SQLite catalog.

    .venv/bin/python bench/bench_import.py [--workers 2] [--size 100]

Times `curate import fer2013 ../shared/data/fer2013` end to end, as a user runs it (listing the
files, a process pool decoding, storing the originals in the blob store and encoding 100x100 PNG
crops with their hashes, the parent adding images and faces in batches of 1,000), then the
re-import, which must add nothing. Goal (issue 4): under 30 s on the 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))


def curate(*args: str) -> tuple[float, dict]:
    t0 = time.perf_counter()
    out = subprocess.run([str(Path(sys.executable).parent / "curate"), *args, "--json"], check=True,
                         capture_output=True, text=True).stdout
    return time.perf_counter() - t0, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=os.cpu_count())
    ap.add_argument("--size", type=int, default=100)
    args = ap.parse_args()
    data = SHARED / "fer2013"
    if not data.is_dir():
        sys.exit(f"no FER2013 folders at {data}")
    print(f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, workers {args.workers}")
    with tempfile.TemporaryDirectory() as tmp:
        cat = str(Path(tmp) / "catalog")
        curate("init", "--catalog", cat)
        common = ("import", "fer2013", str(data), "--catalog", cat, "--workers", str(args.workers), "--size", str(args.size))
        seconds, first = curate(*common)
        print(f"import: {seconds:.1f} s wall ({first['files'] / seconds:,.0f} faces/s): {first['faces_added']:,} faces, "
              f"{first['images_added']:,} images ({first['duplicates']:,} byte-identical files), {len(first['failed'])} failed")
        seconds, again = curate(*common)
        print(f"re-import: {seconds:.1f} s wall, {again['faces_added']} faces added, {again['skipped']:,} skipped")
        blobs = sum(f.stat().st_size for f in (Path(cat) / "images").rglob("*") if f.is_file())
        db = sum(f.stat().st_size for f in Path(cat).glob("catalog.sqlite*"))
        print(f"catalog: {db / 1e6:.0f} MB database (crops), {blobs / 1e6:.0f} MB originals")


if __name__ == "__main__":
    main()
