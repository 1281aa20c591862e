"""The whole facecat pipeline, offline, on real data: what `bash scripts/demo` runs.

1. create a catalog;
2. scrape "happy human face" with real headless Chromium from a local Bing look-alike that serves real
   photos (some links dead, one hotlink-protected, one duplicate: their outcomes are recorded);
3. import JAFFE (faces found and aligned by dlib) and FER2013 (pre-cropped) beside them;
4. extract the faces of the scraped photos; find duplicates; export a split dataset; show the stats.

Every step is the real command, printed before it runs. Output goes to ./demo-out (made anew).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from scraper.lookalike.bing import BingLookalike  # the same site the tests scrape
from scraper.lookalike.server import LocalServer
from scraper.lookalike.site import Entry

REPO = Path(__file__).resolve().parent.parent

BIN = Path(sys.executable).parent
OUT = Path(os.environ.get("FACECAT_DEMO_OUT", REPO / "demo-out"))
DATA = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))


def step(title: str, *cmd: str) -> None:
    print(f"\n=== {title}\n$ {' '.join(cmd)}", flush=True)
    env = {**os.environ, "FACECAT_CATALOG": str(OUT / "catalog"), "SE_OFFLINE": "true"}
    result = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], env=env)
    if result.returncode != 0:
        sys.exit(f"demo: step failed ({title}), exit {result.returncode}")


def photo_site() -> tuple[LocalServer, BingLookalike]:
    """A local Bing Images look-alike whose results are real photos with faces."""
    photos = sorted((DATA / "photos" / "face_recognition" / "examples").glob("*.jp*g"))[:12]
    photos += sorted((DATA / "photos" / "dlib").glob("2008_*.jpg"))[:6]
    entries = [Entry(p.stem) for p in photos]
    entries += [Entry("gone", kind="dead"), Entry("hotlink", kind="html"), Entry("again", kind="dup", of=photos[0].stem)]
    mirror = BingLookalike(entries)
    for p in photos:
        mirror.bytes[p.stem] = p.read_bytes()
    server = LocalServer(mirror)
    mirror.base = server.url
    return server, mirror


def main() -> None:
    if not (DATA / "jaffe").is_dir():
        sys.exit(f"demo: the sample data is not at {DATA} (the project's ../shared/data); "
                 "set FACECAT_SHARED_DATA to its path")
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    step("Create a catalog", "curate", "init")

    server, _ = photo_site()
    try:
        step("Scrape an image search with a real browser (a local mirror: no internet here)",
             "scrape", "happy human face", "--engine", "bing", "--base-url", server.url)
    finally:
        server.close()
    step("Browse what was scraped, as folders", "scrape", "--view", str(OUT / "browse"))
    step("Import JAFFE: dlib finds, aligns and crops each face", "curate", "import", "jaffe", str(DATA / "jaffe"))
    step("Import FER2013 (pre-cropped 48x48 faces, labels and Usage kept)",
         "curate", "import", "fer2013", str(DATA / "fer2013"))
    step("Find the faces in the scraped photos", "curate", "extract")
    step("Find exact and near duplicates across all sources", "curate", "dedupe")
    step("Export a stratified, duplicate-aware 80/10/10 split as class folders",
         "curate", "export", str(OUT / "export"), "--format", "folders", "--split", "80/10/10", "--seed", "0")
    step("Where the catalog stands", "curate", "stats", "--plot", str(OUT / "balance.png"))
    print(f"\ndemo: done. Catalog: {OUT / 'catalog'}; export: {OUT / 'export'}; "
          f"class balance: {OUT / 'balance.png'}; browsable scrape: {OUT / 'browse'}")


if __name__ == "__main__":
    main()
