"""Downloader benchmark: facecat's downloader (into a catalog) vs img2dataset, same URLs, same threads.

2,000 real images from ../shared/data (FER2013 JPEGs plus every real photo) are served on this
machine with 50 ms of latency added to each request, spread over 8 loopback hosts (127.0.0.1-8) the
way search results come from many sites (facecat keeps at most Limits.per_host requests per host).
Both tools run in this one run, on the same URL list with the same thread count.

    .venv/bin/python bench/bench_download.py [--images 2000] [--threads 16] [--hosts 8] [--latency 0.05]
"""
from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from db import open_catalog  # noqa: E402
from db.types import NewSource  # noqa: E402
from scraper.download import Downloader  # noqa: E402
from scraper.engines.base import Result  # noqa: E402
from scraper.pipeline import QueryReport, fetch_into_catalog  # noqa: E402
from scraper.writer import Item  # noqa: E402

SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))


def pick_files(n: int) -> list[Path]:
    photos = sorted(p for p in (SHARED / "photos").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    fer = sorted((SHARED / "fer2013" / "train").rglob("*.jpg"))
    return (photos + fer)[:n]


def start_server(files: list[Path], latency: float, hosts: list[str], work: Path) -> tuple[subprocess.Popen, int]:
    listing = work / "files.txt"
    listing.write_text("\n".join(str(f) for f in files))
    proc = subprocess.Popen([sys.executable, "-m", "bench.download.server", str(listing), str(latency), *hosts],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    return proc, int(proc.stdout.readline())


def run_facecat(urls: list[str], threads: int, work: Path) -> tuple[float, dict]:
    with open_catalog(work / "catalog", create=True) as cat:
        source_id = cat.add_source(NewSource(kind="scrape", name="bench", query="bench"))
        items = [Item(Result(u), rank, None) for rank, u in enumerate(urls, 1)]
        report = QueryReport(query="bench", engine="bench", label=None, page_url="", source_id=source_id)
        start = time.perf_counter()
        with Downloader(cat.blobs.temp_dir(), concurrency=threads) as dl:
            fetch_into_catalog(cat, items, report, dl)
        return time.perf_counter() - start, report.outcomes


def run_img2dataset(urls: list[str], threads: int, work: Path) -> tuple[float, int]:
    from img2dataset import download

    table = work / "urls.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["url"])
        w.writerows([u] for u in urls)
    out = work / "img2dataset"
    start = time.perf_counter()
    download(url_list=str(table), input_format="csv", url_col="url", output_folder=str(out), output_format="files",
             thread_count=threads, processes_count=1, resize_mode="no", disable_all_reencoding=True,
             timeout=10, retries=0, enable_wandb=False, compute_hash="sha256")
    elapsed = time.perf_counter() - start
    return elapsed, sum(1 for p in out.rglob("*") if p.suffix in (".jpg", ".png"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"real data not found at {SHARED} (the project's ../shared/data)")
    files = pick_files(args.images)
    hosts = [f"127.0.0.{i}" for i in range(1, args.hosts + 1)]
    work = Path(tempfile.mkdtemp(prefix="facecat-bench-dl-"))
    server, port = start_server(files, args.latency, hosts, work)
    try:
        urls = [f"http://{hosts[i % len(hosts)]}:{port}/{i}" for i in range(len(files))]
        mb = sum(f.stat().st_size for f in files) / 1e6
        print(f"{len(urls)} images ({mb:.1f} MB), {args.latency * 1000:.0f} ms latency, {len(hosts)} hosts, "
              f"{args.threads} threads")
        fc_time, outcomes = run_facecat(urls, args.threads, work)
        # duplicate = fetched and validated like ok, its bytes already stored (FER2013 repeats images)
        fc_rate = (outcomes.get("ok", 0) + outcomes.get("duplicate", 0)) / fc_time
        print(f"facecat:     {fc_time:6.1f} s  {fc_rate:6.1f} images/s  {outcomes}")
        i2d_time, i2d_ok = run_img2dataset(urls, args.threads, work)
        i2d_rate = i2d_ok / i2d_time
        print(f"img2dataset: {i2d_time:6.1f} s  {i2d_rate:6.1f} images/s  ({i2d_ok} ok)")
        print(f"ratio facecat / img2dataset (wall clock, start to finish): {fc_rate / i2d_rate:.2f}x")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
