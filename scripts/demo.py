"""The whole facecat pipeline, offline, from an image search to a trained model: what `bash scripts/demo` runs.

    bash scripts/demo                      # ../shared/data if present (a FER2013 sample), else packaged photos only
    bash scripts/demo --no-shared          # as on a fresh clone: only what installed packages ship
    bash scripts/demo --fer2013 ~/fer2013  # your own FER2013 copy (train/ test/ folders, or Kaggle's CSV)
    bash scripts/demo --full               # all of FER2013, and the architecture's full training recipe

Steps, each the real command, printed before it runs: a local image-search look-alike on 127.0.0.1
serving real face photos; `scrape` of two emotion queries with headless Chromium; `curate extract`;
imports (a FER2013 sample and JAFFE where there is data; LFW's faces from scikit-image, unlabeled);
`curate dedupe`; a review that confirms the scraped faces' suggested labels through the labeler's own
decision API (the audit says `via demo`); `train fit` (about two minutes); `train evaluate`; `train
predict --plot` on a photo; `train suggest`; `curate export` of the confirmed faces; a report.
Output goes to ./demo-out (made anew; FACECAT_DEMO_OUT or --out moves it).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # demo_data beside this file

import demo_data  # noqa: E402
from demo_data import Photo  # noqa: E402

from scraper.lookalike.bing import BingLookalike  # noqa: E402  (the same site the tests scrape)
from scraper.lookalike.site import Entry  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
QUERIES = {"happy": "happy human face", "neutral": "neutral face"}
FER_SAMPLE = (500, 80)  # FER2013 faces per class: train/, test/ (disgust has fewer)
FIT_EPOCHS = 12  # on the sample: about two minutes on 2 cores


class Demo:
    def __init__(self, out: Path, total_steps: int):
        self.out = out
        self.total = total_steps
        self.n = 0
        self.started = time.perf_counter()
        self.env = {**os.environ, "FACECAT_CATALOG": str(out / "catalog"), "FACECAT_CACHE": str(out / "cache"),
                    "SE_OFFLINE": "true"}

    def title(self, text: str) -> None:
        self.n += 1
        print(f"\n=== [{self.n}/{self.total}] {text}", flush=True)

    def run(self, *cmd: str, may_fail: bool = False) -> int:
        """Run a facecat command as a user would; stop the demo with a clear line when it fails."""
        shown = " ".join(c if c and " " not in c else repr(c) for c in cmd)
        print(f"$ {shown}", flush=True)
        t = time.perf_counter()
        rc = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], env=self.env).returncode
        print(f"({time.perf_counter() - t:.0f} s)", flush=True)
        if rc != 0 and not may_fail:
            fail(f"step {self.n} failed: `{shown}` exited {rc} (its message is above; FACECAT_DEBUG=1 "
                 "shows a traceback). What the earlier steps made is in " + str(self.out))
        return rc


def fail(message: str) -> None:
    print(f"\ndemo: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="scripts/demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Data: FACECAT_SHARED_DATA names ../shared/data elsewhere.")
    ap.add_argument("--out", type=Path, default=Path(os.environ.get("FACECAT_DEMO_OUT", REPO / "demo-out")),
                    help="output folder, made anew (default ./demo-out)")
    ap.add_argument("--fer2013", type=Path, metavar="PATH",
                    help="your FER2013: a folder with train/ and test/ class folders, or Kaggle's fer2013.csv")
    ap.add_argument("--no-shared", action="store_true", help="ignore ../shared/data: what a fresh clone has")
    ap.add_argument("--full", action="store_true",
                    help="all of FER2013 (not a sample) and the architecture's full recipe (train fit --arch list: vgg-small's 40 epochs, about 40 min on 2 cores)")
    ap.add_argument("--epochs", type=int, help=f"training epochs (default {FIT_EPOCHS}; --full: the recipe's)")
    return ap.parse_args()


def look_alike(photos: dict[str, list[Photo]]) -> BingLookalike:
    """A Bing Images look-alike whose results for each query are real photos (plus, as on the web, a
    dead link, a hotlink-protected one that answers HTML, and a copy of an earlier result)."""
    by_query: dict[str, list[Entry]] = {}
    site_bytes: dict[str, bytes] = {}
    for label, query in QUERIES.items():
        entries = [Entry(p.name) for p in photos[label]]
        site_bytes.update({p.name: p.data for p in photos[label]})
        entries += [Entry(f"gone_{label}", kind="dead"), Entry(f"hotlink_{label}", kind="html"),
                    Entry(f"again_{label}", kind="dup", of=photos[label][0].name)]
        by_query[query] = entries
    site = BingLookalike(by_query)
    site.bytes.update(site_bytes)
    return site


def review(out: Path, portraits: set[str]) -> None:
    """Stand in for a person in `label`: Delete on the faces that are not faces, Enter on the others
    (their suggested label, confirmed), through the labeler's own decision API (the same plan and
    writer as the app's keys), recorded in the audit as the demo's decisions (via demo).

    The demo knows its portraits hold one face each: their other detections (the astronaut's
    mission patches) are what a person would delete. Other photos' faces are all confirmed."""
    from db import open_catalog
    from db.types import FaceFilter
    from labeler.scripted import decide

    with open_catalog(out / "catalog") as cat:
        faces = list(cat.iter_faces(FaceFilter(selection="unreviewed", source_kinds=("scrape",))))
        largest: dict[int, tuple[int, int]] = {}  # image id -> (face id, area) of its largest face
        for f in faces:
            if largest.get(f.image_id) is None or f.bbox[2] * f.bbox[3] > largest[f.image_id][1]:
                largest[f.image_id] = (f.id, f.bbox[2] * f.bbox[3])
        portrait = lambda f: f.url and f.url.rsplit("/", 1)[-1].split(".")[0].startswith(tuple(portraits))  # noqa: E731
        drop = [f for f in faces if portrait(f) and largest[f.image_id][0] != f.id]
        keep = [f for f in faces if f not in drop]
        who = f"demo ({getpass.getuser()})"
        deleted = decide(cat, drop, "delete", annotator=who, via="demo")
        confirmed = decide(cat, keep, "confirm", annotator=who, via="demo")
    for r in (deleted, confirmed):
        if r.message or r.conflicts:
            fail(f"the review could not be written: {r.message or f'{len(r.conflicts)} conflicts'}")
    by_label: dict[str, int] = {}
    for label, _status, _v in confirmed.applied.values():
        by_label[label] = by_label.get(label, 0) + 1
    print(f"deleted {len(deleted.applied)} detections that are not faces (the badges on the astronaut's suit; "
          "Delete in `label`)")
    print(f"confirmed {len(confirmed.applied)} scraped faces with their suggested labels "
          f"({', '.join(f'{k} {v}' for k, v in sorted(by_label.items()))}; Enter in `label`)"
          + (f"; {len(confirmed.refused)} left as they were (no suggestion)" if confirmed.refused else ""))
    print("every decision is in the audit as the demo's (via demo, annotator demo): "
          "`label` shows them in each face's history")


def has_command(*cmd: str) -> bool:
    return subprocess.run([str(BIN / cmd[0]), *cmd[1:], "--help"], capture_output=True).returncode == 0


def disk_use(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    args = parse_args()
    resolved = args.out.resolve()
    # Paths under the working directory are shown (and passed) relative to it: shorter to read and copy.
    out = Path(os.path.relpath(resolved)) if resolved.is_relative_to(Path.cwd()) else resolved
    shared = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))
    have_shared = not args.no_shared and shared.is_dir()
    fer_src = args.fer2013 or (shared / "fer2013" if have_shared and (shared / "fer2013").is_dir() else None)
    if args.fer2013 is not None and not args.fer2013.exists():
        fail(f"--fer2013 {args.fer2013}: no such file or folder")
    if args.full and fer_src is None:
        fail("--full needs FER2013: ../shared/data is absent (or --no-shared); give --fer2013 PATH")
    jaffe = shared / "jaffe" if have_shared and (shared / "jaffe").is_dir() else None

    portraits = demo_data.package_portraits()
    if set(portraits) != set(QUERIES):
        fail("the packaged portraits are missing (scikit-image's astronaut, matplotlib's Grace Hopper): "
             "run `bash scripts/setup` (it installs the demo extra), or `pip install -e '.[demo]'`")
    photos = {label: demo_data.variants(p) for label, p in portraits.items()}
    extra = demo_data.shared_photos(shared) if have_shared else []
    for i, p in enumerate(extra):  # shared photos split between the queries: their suggestions are only hints
        photos["happy" if i % 2 == 0 else "neutral"].append(p)

    if out.exists():
        if resolved == REPO or resolved in REPO.parents or (out / ".git").exists():
            fail(f"--out {out} is not a demo folder")
        shutil.rmtree(out)
    (out / "data").mkdir(parents=True)
    (out / "plots").mkdir()

    print("demo: what it uses")
    for p in portraits.values():
        print(f"  {p.what}, with {len(demo_data.variants(p)) - 1} variants the demo makes (mirrored, re-lit, re-cropped, ...)")
    print(f"  {len(extra)} photos of face_recognition and dlib from {shared}/photos" if extra else
          f"  no ../shared/data ({'--no-shared' if args.no_shared else f'none at {shared}'}): packaged photos only")
    if fer_src is not None:
        print(f"  FER2013 from {fer_src}" + ("" if args.full else f" (a sample: {FER_SAMPLE[0]} training and "
                                                                 f"{FER_SAMPLE[1]} test faces per class)"))
    else:
        print("  no FER2013 (give --fer2013 PATH for a real emotion model): the model learns the two scraped "
              "portraits' labels only, which shows the pipeline works, not how well it reads emotions")
    if jaffe:
        print(f"  JAFFE from {jaffe}")
    lfw = demo_data.write_lfw_faces(out / "data" / "lfw-faces")
    if lfw:
        print(f"  {lfw} unlabeled 25x25 faces of Labeled Faces in the Wild (scikit-image's lfw_subset.npy)")

    suggest = has_command("train", "suggest")
    steps = 11 + bool(fer_src) + bool(jaffe) + bool(lfw) + suggest
    d = Demo(out, steps)
    catalog = out / "catalog"
    model = out / "models" / "demo"

    d.title("A local image-search site (a Bing Images look-alike on 127.0.0.1; no internet needed)")
    site = look_alike(photos)
    server = site.start()
    for label, query in QUERIES.items():
        print(f"  {query!r}: {len(site.results(query))} results ({len(photos[label])} photos, a dead link, "
              "a hotlink-protected one, a copy)")
    print(f"  serving at {server.url}")
    try:
        d.title("Scrape two emotion queries with a real headless Chromium (creates the catalog)")
        d.run("scrape", *QUERIES.values(), "--engine", "bing", "--base-url", server.url)
    finally:
        server.close()
    d.title("Find, align and crop the faces of the scraped photos (dlib)")
    d.run("curate", "extract")
    if fer_src is not None:
        d.title("Import FER2013 (pre-cropped 48x48 faces; labels and Usage kept)")
        sample = demo_data.fer2013_sample(fer_src, out / "data" / "fer2013-sample",
                                          *((None, None) if args.full else FER_SAMPLE))
        d.run("curate", "import", "fer2013", str(sample), "--name", "fer2013")
    if jaffe:
        d.title("Import JAFFE (labels from file names; dlib finds and aligns each face)")
        d.run("curate", "import", "jaffe", str(jaffe))
    if lfw:
        d.title("Import LFW's faces unlabeled (for the model to suggest labels for)")
        d.run("curate", "import", "unlabeled", str(out / "data" / "lfw-faces"), "--name", "lfw-subset",
              "--crop", "none")
    d.title("Find exact and near duplicates across every source")
    d.run("curate", "dedupe", "--limit", "5")

    d.title("Review the scraped faces: delete what is not a face, confirm the suggested labels")
    print(f"(through the labeler's decision API, labeler.scripted; a person does this in `label --catalog {catalog}`)")
    review(out, {p.name for p in portraits.values()})

    d.title("Train a CNN on the merged, reviewed catalog")
    epochs = args.epochs or (None if args.full else FIT_EPOCHS if fer_src else 30)
    fit = ["train", "fit", "--out", str(model), "--seed", "0"] + (["--epochs", str(epochs)] if epochs else [])
    if fer_src is None:
        # Two portraits: each photo's variants are one duplicate group, its mirror images another, and
        # a group never straddles two splits; half of them validate.
        # Fifteen faces: small batches, so that batch normalisation sees enough steps.
        fit += ["--split", "50/50/0", "--batch", "4"]
    d.run(*fit)
    held_out = "test" if fer_src else "val"
    d.title(f"Score it on the {held_out} faces it never saw")
    d.run("train", "evaluate", str(model), "--split", held_out, "--plot-errors", str(out / "plots" / "errors.png"))
    photo = shared / "photos" / "dlib" / "2008_002506.jpg" if have_shared else None
    if photo is None or not photo.is_file():
        photo = out / "data" / "astronaut.png"
        photo.write_bytes(portraits["happy"].data)
    d.title("Use it on a photo")
    d.run("train", "predict", str(model), str(photo), "--plot", str(out / "plots" / "predict.png"))
    if suggest:
        d.title("Suggest labels: the model's probabilities stored for the labeler, likely mislabeled faces flagged")
        d.run("train", "suggest", str(model))
    d.title("Export the confirmed faces (the reviewed set) as class folders")
    d.run("curate", "export", str(out / "export"), "--status", "confirmed", "--split", "keep")
    d.title("Where the catalog stands")
    d.run("curate", "stats", "--plot", str(out / "plots" / "balance.png"))
    d.title("Report")
    report(out, model, time.perf_counter() - d.started, fer_src is not None, suggest, fit[2:])


def report(out: Path, model: Path, seconds: float, with_fer: bool, suggested: bool, fit_args: list[str]) -> None:
    catalog = out / "catalog"
    card = json.loads((model / "model.json").read_text())
    manifest = json.loads((out / "export" / "manifest.json").read_text())
    m = card.get("metrics", {})
    held = "test" if "test" in m and m["test"].get("faces") else "val"
    score = m.get(held, {})
    per_split = {s: (m.get(s) or {}).get("faces", 0) for s in ("train", "val", "test")}
    exported = sum(manifest.get("counts", {}).get("train", {}).values()) if isinstance(
        manifest.get("counts", {}).get("train"), dict) else manifest.get("faces")
    size = disk_use(out)
    here = Path.cwd()
    rel = lambda p: str(p.relative_to(here)) if p.is_relative_to(here) else str(p)  # noqa: E731
    print(f"""demo: done in {seconds / 60:.1f} min; {size / 1e6:.0f} MB written under {rel(out)}

  catalog  {rel(catalog)}/   (catalog.sqlite: images, faces, labels, audit; images/: the originals)
  model    {rel(model)}/   (model.keras, model.json: what it was trained on and how; report.txt)
  plots    {rel(model / 'curves.png')}   loss and accuracy per epoch, training and validation
           {rel(model / 'confusion.png')}   true class (rows) against predicted, normalised by row
           {rel(out / 'plots' / 'errors.png')}   the held-out faces it got most confidently wrong
           {rel(out / 'plots' / 'predict.png')}   the photo's faces with their classes' probabilities
           {rel(out / 'plots' / 'balance.png')}   faces per class and source
  export   {rel(out / 'export')}/   {exported} confirmed faces in train/<class>/ folders; manifest.json says where each came from

What the numbers mean:
  {score.get('accuracy', 0):.1%} {held} accuracy: the share of the {score.get('faces', 0)} held-out faces (never trained on,
    no duplicate of a training face) whose most probable class is their label; chance is about
    {1 / max(1, len(card.get('classes', [])) ):.0%} with {len(card.get('classes', []))} classes.
  macro-F1 {score.get('macro_f1', 0):.3f}: the mean over classes of the harmonic mean of precision and recall (rare
    classes count as much as common ones).
  faces per split: train {per_split['train']}, val {per_split['val']}, test {per_split['test']}.""")
    if not with_fer:
        print("  Without FER2013 the model separates two portraits and their variants: the figures show the pipeline\n"
              "  runs end to end, not how well it reads emotions. Run it with ../shared or --fer2013 PATH.")
    else:
        print("  A FER2013 sample trained for minutes on a CPU: expect well under the ~65% of the full recipe\n"
              "  (README train); --full trains on all of it.")
    print(f"""
Next:
  label --catalog {rel(catalog)}                     # review the faces yourself (the demo confirmed the scraped ones unseen)""")
    if suggested:
        print(f"  label --catalog {rel(catalog)} --order self_confidence   # likely mislabeled first, by the model's suggestions")
    same = " ".join(a for a in fit_args[2:])  # the demo's options but --out: compare needs the same split
    print(f"""  train fit --catalog {rel(catalog)} --out models/mine {same}   # retrain on what you reviewed
  train compare {rel(model)} models/mine --catalog {rel(catalog)}   # the two models on the same held-out faces
  scrape "surprised face" --catalog {rel(catalog)}   # real image search: grow the catalog""")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        fail("interrupted; what the finished steps made is kept in the output folder")
