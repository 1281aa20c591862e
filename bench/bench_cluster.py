"""Past one machine: the Ray engine's overhead, the catalog's write ceiling, bytes per face.

    .venv/bin/python bench/bench_cluster.py extract [--repeat 2]
    .venv/bin/python bench/bench_cluster.py ceiling [--writers 1,2,4,8] [--images 2000] [--pg auto]
    .venv/bin/python bench/bench_cluster.py size

extract: the real photos of bench_extract.py (face_recognition's, dlib's, JAFFE: 251 distinct files)
extracted on a fresh SQLite catalog, locally with 1 and 2 processes, and with --executor ray on a
Ray cluster started here (`ray start`, on 127.0.0.x): a head that runs no task (--num-cpus 0) and
1 or 2 worker nodes of 1 CPU each. Every run must find the same faces. The engine's overhead per
photo is (Ray time - local time with as many workers) / photos.

ceiling: N writer processes at once, each storing its own pending images' extraction results
through Catalog.save_extractions (the Ray driver's path: batches of 16 images, 1.3 faces per image,
5 KB crops, one transaction per batch), on SQLite and on PostgreSQL (scripts/pg-throwaway, fsync off).
Faces/s is the total over the wall clock of the slowest writer.

size: FER2013's image folders (32,298 pre-cropped 48x48 faces) imported into a SQLite catalog at
--size 100, with native-size crops (today) and with every face upscaled to 100 (before): database
and blob bytes per face, and per 100,000 faces; plus the bytes of a detected 100x100 face.
"""
from __future__ import annotations

import argparse
import hashlib
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from db import open_catalog  # noqa: E402
from db.types import ExtractionResult, ExtractionState, NewFace, NewImage, NewSource  # noqa: E402

SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))


def machine() -> str:
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}; {load}"


# --- extract ---------------------------------------------------------------------------------------
def photos() -> list[Path]:
    paths = sorted(p for p in (SHARED / "photos/face_recognition").rglob("*") if p.is_file())
    paths += sorted((SHARED / "photos/dlib").glob("*.jpg")) + sorted((SHARED / "jaffe").glob("*.tiff"))
    seen, out = set(), []
    for p in paths:
        digest = hashlib.sha256(p.read_bytes()).digest()
        if digest not in seen:
            seen.add(digest)
            out.append(p)
    return out


def fresh_catalog(root: Path, files: list[Path]):
    cat = open_catalog(root, create=True)
    sid = cat.add_source(NewSource(kind="dataset", name="photos"))
    images = []
    for p in files:
        sha, rel = cat.blobs.put_bytes(p.read_bytes(), "bin")
        images.append(NewImage(sha256=sha, blob_path=rel, width=0, height=0, format="?", source_id=sid))
    cat.add_images(images)
    return cat


def faces_found(cat) -> list:
    sha = {im.id: im.sha256 for im in cat.images_to_extract(redo=True)}
    return sorted((sha[f.image_id], f.bbox, f.pixel_sha256) for f in cat.iter_faces())


def bench_extract(args) -> None:
    from curation.extract import run_extraction
    from curation.faces import ExtractSettings
    from db.executor import ExecutorSpec, RayCluster
    from tests.cluster.processes import RayCluster as LocalRay

    files = photos()
    print(f"machine: {machine()}")
    print(f"{len(files)} photos")
    rows, reference = [], None

    def run(label: str, **kw) -> None:
        nonlocal reference
        best = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp, fresh_catalog(Path(tmp) / "c", files) as cat:
                t0 = time.perf_counter()
                summary = run_extraction(cat, ExtractSettings(), **kw)
                seconds = time.perf_counter() - t0
                found = faces_found(cat)
            reference = reference or found
            assert found == reference, f"{label}: other faces than the first run"
            best = min(best or seconds, seconds)
        rows.append((label, best, summary.images, summary.faces))
        print(f"{label:28s} {best:6.2f} s  {summary.images / best:5.1f} photos/s  {summary.faces} faces  "
              f"load {os.getloadavg()[0]:.2f}", flush=True)

    run("local, 1 process", workers=1)
    run("local, 2 processes", workers=2)
    with tempfile.TemporaryDirectory() as tmp:
        ray = LocalRay(Path(tmp), {}, head_cpus=0)
        try:
            for n, ip in ((1, "127.0.0.3"), (2, "127.0.0.4")):
                ray.add_worker(ip)
                with RayCluster(ExecutorSpec("ray", ray.address)) as cluster:
                    assert cluster.cpus() == n
                    run(f"ray, {n} worker node{'s' if n > 1 else ''} x 1 CPU", cluster=cluster)
                    # The engine alone: the same photos' tasks (same batches, the blob store and the
                    # settings shipped) with a function that does nothing.
                    from db.executor import chunks
                    jobs = list(range(len(files)))
                    t0 = time.perf_counter()
                    for _ in cluster.map(_noop_batch, chunks(jobs, cluster.batch_size(len(jobs), 16)),
                                         (ExtractSettings(), "store")):
                        pass
                    noop = time.perf_counter() - t0
                    print(f"  engine alone (no-op tasks, {n} node(s)): {noop:.2f} s = {noop / len(files) * 1000:.1f} ms "
                          "per photo of wall clock", flush=True)
        finally:
            ray.stop()
    local = {r[0]: r[1] for r in rows}
    for n, name in ((1, "local, 1 process"), (2, "local, 2 processes")):
        ray_s = local[f"ray, {n} worker node{'s' if n > 1 else ''} x 1 CPU"]
        print(f"engine overhead with {n} worker(s): {(ray_s - local[name]) / len(files) * 1000:+.1f} ms per photo")


def _noop_batch(batch, *_args) -> list:
    return [None] * len(batch)


# --- ceiling -------------------------------------------------------------------------------------
FACES_PER_IMAGE = 1.3
CROP_BYTES = 5000
BATCH = 16


def _crop(rng) -> bytes:
    return rng.randbytes(CROP_BYTES)  # incompressible, like a PNG


def _writer(location: str, store: str, image_ids: list[int], start, out) -> None:
    import random

    rng = random.Random(image_ids[0])
    with open_catalog(location, store) as cat:
        results = []
        for n, iid in enumerate(image_ids):
            k = 2 if n % 10 < 3 else 1  # 1.3 faces per image
            results.append(ExtractionResult(iid, ExtractionState.FACES, [NewFace(
                bbox=(10, 20, 100, 100), crop_png=_crop(rng), crop_size=100, phash=f"{rng.getrandbits(64):016x}",
                pixel_sha256=f"{rng.getrandbits(256):064x}", detector="hog", score=1.0,
                landmarks=[(1.0, 2.0)] * 5, settings={"size": 100}) for _ in range(k)]))
        start.wait()
        t0 = time.perf_counter()
        faces = 0
        for i in range(0, len(results), BATCH):
            saved = cat.save_extractions(results[i : i + BATCH])
            faces += sum(len(s.face_ids) for s in saved)
        out.put((faces, time.perf_counter() - t0))


def _ceiling_one(location: str, store: str, writers: int, per_writer: int) -> tuple[float, int]:
    with open_catalog(location, store, create=True) as cat:
        sid = cat.add_source(NewSource(kind="dataset", name=f"w{writers}"))
        refs = cat.add_images([NewImage(sha256=hashlib.sha256(f"{writers}-{i}-{time.time()}".encode()).hexdigest(),
                                        blob_path=f"images/x/{i}.jpg", width=640, height=480, format="JPEG",
                                        source_id=sid) for i in range(writers * per_writer)])
        cat.optimize()
    ids = sorted(r.id for r in refs)
    ctx = mp.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(location, store, ids[w::writers], start, out)) for w in range(writers)]
    for p in procs:
        p.start()
    time.sleep(3)  # every writer has opened the catalog and built its results
    t0 = time.perf_counter()
    start.set()
    got = [out.get(timeout=600) for _ in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        p.join()
    return wall, sum(f for f, _ in got)


def bench_ceiling(args) -> None:
    print(f"machine: {machine()}")
    writers = [int(w) for w in args.writers.split(",")]
    backends = [("SQLite", None)]
    pg_root = None
    if args.pg == "auto":
        pg_root = tempfile.mkdtemp(prefix="facecat-bench-pg-")
        url = subprocess.run(["bash", str(REPO / "scripts/pg-throwaway"), "start", pg_root], check=True,
                             capture_output=True, text=True).stdout.strip()
        backends.append(("PostgreSQL", url))
    elif args.pg:
        backends.append(("PostgreSQL", args.pg))
    try:
        for name, url in backends:
            for n in writers:
                with tempfile.TemporaryDirectory() as tmp:
                    if url is None:
                        location, store = str(Path(tmp) / "c"), None
                    else:
                        import sqlalchemy as sa

                        db = f"bench_ceiling_{n}_{os.getpid()}"
                        admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
                        with admin.connect() as c:
                            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}"')
                            c.exec_driver_sql(f'CREATE DATABASE "{db}"')
                        admin.dispose()
                        location, store = url.rsplit("/", 1)[0] + "/" + db, str(Path(tmp) / "blobs")
                    wall, faces = _ceiling_one(location, store, n, args.images // n)
                    print(f"{name:10s} {n} writers: {faces:,} faces in {wall:.2f} s = {faces / wall:,.0f} faces/s "
                          f"({faces / wall / FACES_PER_IMAGE:,.0f} images/s)  load {os.getloadavg()[0]:.2f}", flush=True)
    finally:
        if pg_root:
            subprocess.run(["bash", str(REPO / "scripts/pg-throwaway"), "stop", pg_root], capture_output=True)


# --- size ----------------------------------------------------------------------------------------
def _catalog_bytes(directory: Path) -> tuple[int, int]:
    import sqlite3

    con = sqlite3.connect(directory / "catalog.sqlite")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    db = sum(f.stat().st_size for f in directory.glob("catalog.sqlite*"))
    blobs = sum(f.stat().st_size for f in (directory / "images").rglob("*") if f.is_file())
    return db, blobs


def _crop_bytes(directory: Path) -> tuple[int, int]:
    import sqlite3

    con = sqlite3.connect(directory / "catalog.sqlite")
    n, total = con.execute("SELECT count(*), sum(length(crop_png)) FROM faces").fetchone()
    con.close()
    return n, total


def bench_size(args) -> None:
    from curation import crops as crops_module
    from curation.importers import common

    print(f"machine: {machine()}")
    data = SHARED / "fer2013"
    real = common.encode_precropped

    def upscaled(picture, size):  # before native-size crops: every face stored at the catalog size
        png, phash, pixel_sha = crops_module.encode_crop(picture, size)
        return crops_module.EncodedCrop(png, size, phash, pixel_sha)

    for label, encoder in (("upscaled to 100 (before)", upscaled), ("native 48 (after)", real)):
        common.encode_precropped = encoder  # the forked workers inherit it
        with tempfile.TemporaryDirectory() as tmp:
            cat = Path(tmp) / "c"
            t0 = time.perf_counter()
            from click.testing import CliRunner

            from curation.cli import main as curate
            r = CliRunner().invoke(curate, ["import", "fer2013", str(data), "--catalog", str(cat), "--workers", "2"])
            assert r.exit_code == 0, r.output
            seconds = time.perf_counter() - t0
            db, blobs = _catalog_bytes(cat)
            n, crop_total = _crop_bytes(cat)
            print(f"{label:26s} {n:,} faces in {seconds:.1f} s: crops {crop_total / n:,.0f} B/face; database "
                  f"{db / n:,.0f} B/face ({db / n * 1e5 / 2**30:.2f} GiB per 100k); originals {blobs / n:,.0f} B/face; "
                  f"catalog {(db + blobs) / n * 1e5 / 2**30:.2f} GiB per 100k faces  load {os.getloadavg()[0]:.2f}",
                  flush=True)
    common.encode_precropped = real
    # A detected face for comparison: 100x100 crops of the real photos.
    from curation.extract import run_extraction
    from curation.faces import ExtractSettings
    with tempfile.TemporaryDirectory() as tmp, fresh_catalog(Path(tmp) / "c", photos()) as cat:
        run_extraction(cat, ExtractSettings(), workers=2)
        n, crop_total = _crop_bytes(Path(tmp) / "c")
        print(f"detected faces (100x100 from photos): {n} faces, crops {crop_total / n:,.0f} B/face")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    e = sub.add_parser("extract")
    e.add_argument("--repeat", type=int, default=2, help="runs per row; the best is kept")
    c = sub.add_parser("ceiling")
    c.add_argument("--writers", default="1,2,4,8")
    c.add_argument("--images", type=int, default=4000, help="pending images in all, shared among the writers")
    c.add_argument("--pg", default="auto", help="a PostgreSQL server URL, 'auto' (a throwaway one) or ''")
    sub.add_parser("size")
    args = ap.parse_args()
    {"extract": bench_extract, "ceiling": bench_ceiling, "size": bench_size}[args.what](args)


if __name__ == "__main__":
    main()
