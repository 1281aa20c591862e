"""Render the labeler's main window to a PNG, on a catalog built from ../shared's face_recognition
photos (MIT-licensed, so the picture may show them). Run through scripts/screenshot-labeler, which
starts Xvfb.

The catalog is what a person would have after a scrape: the photos as the images of a search
("smiling person", suggestion happy), faces found by `curate extract`, duplicates grouped by
`curate dedupe`, a few faces reviewed by two annotators. The model predictions in the picture are
made up by this script (a stand-in until `train suggest` stores real ones).
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DATA = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))
PHOTOS = DATA / "photos" / "face_recognition"
UPSTREAM = "https://github.com/ageitgey/face_recognition/raw/master/"
BIN = Path(sys.executable).parent


def build(catalog_dir: Path) -> None:
    from PIL import Image

    from db import open_catalog
    from db.types import FaceDecision, NewImage, NewModel, NewPrediction, NewSource

    with open_catalog(catalog_dir, create=True) as cat:
        sid = cat.add_source(NewSource(kind="scrape", name="bing: smiling person", engine="bing",
                                       query="smiling person", license_note="face_recognition examples (MIT)"))
        images = []
        for rank, path in enumerate(sorted(p for p in PHOTOS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))):
            data = path.read_bytes()
            with Image.open(path) as im:
                fmt, (w, h) = im.format, im.size
            sha, rel = cat.blobs.put_bytes(data, fmt)
            url = UPSTREAM + str(path.relative_to(PHOTOS))
            images.append(NewImage(sha256=sha, blob_path=rel, width=w, height=h, format=fmt, source_id=sid, url=url,
                                   page_url="https://github.com/ageitgey/face_recognition", query="smiling person",
                                   rank=rank + 1, suggested_label="happy"))
        cat.add_images(images)
    env = {**os.environ, "FACECAT_CATALOG": str(catalog_dir), "FACECAT_PROGRESS": "0"}
    for cmd in (["curate", "extract", "--workers", "2"], ["curate", "dedupe"]):
        subprocess.run([str(BIN / cmd[0]), *cmd[1:]], env=env, check=True, stdout=subprocess.DEVNULL)
    with open_catalog(catalog_dir) as cat:
        faces = cat.review_ids()
        rng = random.Random(4)
        decisions = {2: ("happy", "confirmed", "alice"), 3: ("neutral", "confirmed", "alice"),
                     5: (None, "deleted", "bob"), 6: ("happy", "uncertain", "bob"), 8: ("neutral", "confirmed", "bob")}
        for i, (label, status, who) in decisions.items():
            if i < len(faces):
                row = cat.get_face(faces[i], with_crop=False)
                cat.annotate_many([FaceDecision(row.id, row.version, label=label or row.label, status=status)], who)
        mid = cat.register_model(NewModel(name="screenshot-model", path=str(catalog_dir / "models" / "demo"),
                                          classes=cat.class_names()))
        preds = []
        for fid in faces:
            weights = {c: rng.random() ** 4 for c in cat.class_names()}
            weights["happy"] += rng.random() * 1.5
            weights["neutral"] += rng.random()
            total = sum(weights.values())
            preds.append(NewPrediction(fid, {c: v / total for c, v in weights.items()}))
        cat.store_predictions(mid, preds)


def render(catalog_dir: Path, out: Path, overlay: Path | None) -> None:
    os.environ.setdefault("FACECAT_LABEL_SETTINGS", str(catalog_dir / "label-settings.ini"))
    from PySide6.QtCore import QEventLoop, QTimer

    from db import open_catalog
    from labeler.app import application, create_window, settings
    from labeler.filters import FilterSpec

    app = application()
    cat = open_catalog(catalog_dir)
    window = create_window(cat, "alice", settings(), FilterSpec(status="everything"))
    window.resize(1440, 900)
    window.show()
    window.activateWindow()

    def wait(ms: int, until=None) -> None:
        loop = QEventLoop()
        timer = QTimer()
        timer.setSingleShot(True)
        timer.timeout.connect(loop.quit)
        if until is not None:
            until.connect(loop.quit)
        timer.start(ms)
        loop.exec()

    wait(8000, window.first_screen)
    window.select_row(2)  # a reviewed face: its panel shows the annotator and the history
    wait(1500)
    window.grab().save(str(out))
    print(f"wrote {out}")
    if overlay is not None:
        window.overlay.toggle()
        wait(300)
        window.grab().save(str(overlay))
        print(f"wrote {overlay}")
    window.shutdown()
    cat.close()
    app.quit()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="the PNG to write")
    ap.add_argument("--overlay", type=Path, default=None, help="also write the key overlay to this PNG")
    ap.add_argument("--keep", type=Path, default=None, help="build the catalog here and keep it")
    args = ap.parse_args()
    if not PHOTOS.is_dir():
        sys.exit(f"screenshot-labeler: the photos are not at {PHOTOS} (../shared/data); set FACECAT_SHARED_DATA")
    root = args.keep or Path(tempfile.mkdtemp(prefix="facecat-shot-"))
    catalog_dir = root / "catalog"
    if args.keep is None or not (catalog_dir / "catalog.sqlite").exists():
        shutil.rmtree(catalog_dir, ignore_errors=True)
        build(catalog_dir)
    try:
        render(catalog_dir, args.out, args.overlay)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
