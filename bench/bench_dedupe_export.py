"""Dedupe and export benchmark on the full FER2013 image folders (32,298 faces).

    .venv/bin/python bench/bench_dedupe_export.py                  # imports ../shared/data/fer2013 first
    .venv/bin/python bench/bench_dedupe_export.py --catalog DIR    # a catalog that already holds it

Measures `dedupe()` (read every face's hashes, group, store the groups), its grouping step alone
against comparing every pair of hashes with numpy (same groups, checked), and `export()` in each
format. Goal (issue 4): 32k+ faces deduplicated in seconds.
"""
from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from curation.dedupe import DEFAULT_THRESHOLD, _UnionFind, dedupe, find_groups  # noqa: E402
from curation.export import export  # noqa: E402
from curation.selection import SelectionSpec  # noqa: E402
from db import open_catalog  # noqa: E402
from db.types import FaceFilter  # noqa: E402

FER = REPO.parent / "shared" / "data" / "fer2013"


def all_pairs_groups(ids: list[int], phashes: list[str], pixels: list[str], threshold: int) -> list[list[int]]:
    """The baseline: every pair of hashes compared (numpy, 512 rows at a time), then union-find."""
    h = np.array([int(x, 16) for x in phashes], dtype=np.uint64)
    uf = _UnionFind(len(ids))
    first: dict[str, int] = {}
    for i, sha in enumerate(pixels):
        uf.union(i, first.setdefault(sha, i))
    for start in range(0, len(h), 512):
        block = h[start : start + 512, None] ^ h[None, :]
        rows, cols = np.nonzero(np.bitwise_count(block) <= threshold)
        for r, c in zip((rows + start).tolist(), cols.tolist()):
            if r < c:
                uf.union(r, c)
    members: dict[int, list[int]] = {}
    for i in range(len(ids)):
        members.setdefault(uf.find(i), []).append(ids[i])
    return sorted((sorted(g) for g in members.values() if len(g) > 1), key=lambda g: g[0])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--catalog", help="a catalog holding FER2013 (default: import it into a temp dir)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="facecat-bench-"))
    location = args.catalog
    if location is None:
        if not FER.is_dir():
            sys.exit(f"FER2013 not found at {FER}")
        location = str(work / "catalog")
        curate = str(Path(sys.executable).with_name("curate"))
        subprocess.run([curate, "init", "--catalog", location], check=True, capture_output=True)
        print("importing FER2013 (once) ...", file=sys.stderr)
        subprocess.run([curate, "import", "fer2013", str(FER), "--catalog", location], check=True)

    with open_catalog(location) as cat:
        faces = list(cat.iter_faces(FaceFilter(), batch=5000))
        ids, ph, px = [f.id for f in faces], [f.phash for f in faces], [f.pixel_sha256 for f in faces]
        rows = []
        report, t = timed(lambda: dedupe(cat))
        s = report.summary()
        rows.append(("dedupe (read, group, store)", t,
                     f"{s['groups']} groups ({s['exact_groups']} exact), {s['conflicting_groups']} conflicting"))
        groups, t_fast = timed(lambda: find_groups(ids, ph, px, DEFAULT_THRESHOLD))
        rows.append((f"grouping only, pigeonhole index (threshold {DEFAULT_THRESHOLD})", t_fast, ""))
        baseline, t_base = timed(lambda: all_pairs_groups(ids, ph, px, DEFAULT_THRESHOLD))
        assert baseline == groups, "the pigeonhole index and all pairs disagree"
        rows.append(("grouping only, all pairs with numpy (baseline)", t_base,
                     f"same groups; index is {t_base / t_fast:.0f}x faster"))
        for fmt, split in (("folders", "keep"), ("csv", "keep"), ("npz", "80/10/10")):
            out = work / f"export-{fmt}"
            result, t = timed(lambda: export(cat, out, fmt, SelectionSpec(split=split)))
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            rows.append((f"export --format {fmt} --split {split}", t,
                         f"{result.counts['faces']} faces at {result.size}px, {size / 2**20:.0f} MiB"))

    print(f"{len(faces)} faces; {os.cpu_count()} cores, Python {platform.python_version()}\n")
    print("| step | seconds | notes |\n|---|---:|---|")
    for name, secs, note in rows:
        print(f"| {name} | {secs:.2f} | {note} |")


if __name__ == "__main__":
    main()
