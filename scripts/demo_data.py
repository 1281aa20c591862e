"""The demo's material: real photos it may legitimately use offline, the variants it makes of them, and
samples of the datasets in ../shared (or the user's own FER2013).

Always there (installed packages, no network):
- scikit-image's astronaut (Eileen Collins, NASA: public domain), a smiling portrait (the demo's extra);
- matplotlib's Grace Hopper (US Navy: public domain), a composed portrait;
- scikit-image's `lfw_subset.npy`: 100 real 25x25 faces of Labeled Faces in the Wild (and 100 non-faces,
  not used), which the demo imports unlabeled for the model to suggest labels for.
With ../shared/data: face_recognition's and dlib's example photos, FER2013 and JAFFE.
"""
from __future__ import annotations

import csv
import importlib.resources
import io
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass(frozen=True)
class Photo:
    name: str  # safe for a URL
    data: bytes
    what: str  # where it came from, for the demo's "what it used"


def _skimage_data() -> Path | None:
    try:
        return Path(str(importlib.resources.files("skimage") / "data"))
    except ModuleNotFoundError:
        return None


def package_portraits() -> dict[str, Photo]:
    """label -> the portrait shipped in an installed package that shows it (happy, neutral)."""
    import matplotlib

    found = {}
    sk = _skimage_data()
    if sk is not None and (sk / "astronaut.png").is_file():
        found["happy"] = Photo("astronaut", (sk / "astronaut.png").read_bytes(),
                               "scikit-image's astronaut.png (Eileen Collins, NASA; public domain)")
    hopper = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    if hopper.is_file():
        found["neutral"] = Photo("grace_hopper", hopper.read_bytes(),
                                 "matplotlib's grace_hopper.jpg (US Navy; public domain)")
    return found


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=90)
    return buf.getvalue()


def variants(photo: Photo) -> list[Photo]:
    """The photo and copies a web search would also turn up: mirrored, re-lit, re-cropped, rotated,
    smaller, grey. Different bytes, one face: `curate dedupe` groups them (a mirror image is a group of
    its own: the perceptual hash is not mirror-invariant)."""
    im = Image.open(io.BytesIO(photo.data)).convert("RGB")
    w, h = im.size
    made = {
        "mirror": ImageOps.mirror(im),
        "dark": ImageEnhance.Brightness(im).enhance(0.65),
        "contrast": ImageEnhance.Contrast(im).enhance(1.5),
        "crop": im.crop((w // 8, h // 10, w - w // 6, h - h // 5)),
        "tilt": im.rotate(8, resample=Image.BICUBIC, expand=True, fillcolor=(128, 128, 128)),
        "small": im.resize((w // 2, h // 2), Image.LANCZOS),
        "grey": ImageOps.grayscale(im),
        "mirror_dark": ImageEnhance.Brightness(ImageOps.mirror(im)).enhance(0.75),
    }
    return [photo] + [Photo(f"{photo.name}_{k}", _jpeg(v), f"{photo.what}, {k}") for k, v in made.items()]


def shared_photos(data: Path) -> list[Photo]:
    """face_recognition's and dlib's example photos in ../shared (people; no dogs)."""
    paths = sorted((data / "photos" / "face_recognition" / "examples").glob("*.jp*g"))[:12]
    paths += sorted((data / "photos" / "dlib").glob("2008_*.jpg"))[:5]
    return [Photo("".join(c if c.isalnum() else "_" for c in p.stem), p.read_bytes(), str(p)) for p in paths]


def write_lfw_faces(out: Path, n: int = 100) -> int:
    """scikit-image's LFW faces as PNG files in out/ (25x25 grayscale); how many (0 without scikit-image)."""
    sk = _skimage_data()
    if sk is None or not (sk / "lfw_subset.npy").is_file():
        return 0
    faces = np.load(sk / "lfw_subset.npy")[:n]  # the first 100 are faces, the rest are not
    out.mkdir(parents=True, exist_ok=True)
    for i, f in enumerate(faces):
        Image.fromarray((f * 255).round().astype(np.uint8)).save(out / f"lfw_{i:03d}.png")
    return len(faces)


def fer2013_sample(src: Path, out: Path, train_per_class: int | None, test_per_class: int | None) -> Path:
    """A class-balanced sample of a FER2013 copy in out/ (the folder layout, or Kaggle's CSV):
    the first N files (or rows) of each class and split. None: all of them (src itself is returned)."""
    if train_per_class is None:
        return src
    if src.is_file():
        return _csv_sample(src, out.with_suffix(".csv"), train_per_class, test_per_class)
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        if not (src / split).is_dir():
            continue
        for cls_dir in sorted(p for p in (src / split).iterdir() if p.is_dir()):
            files = sorted(p for p in cls_dir.iterdir() if p.suffix.lower() in SUFFIXES)[:n]
            (out / split / cls_dir.name).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copyfile(f, out / split / cls_dir.name / f.name)
    return out


def _csv_sample(src: Path, out: Path, train_per_class: int, test_per_class: int) -> Path:
    taken: Counter = Counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    with src.open(newline="") as fin, out.open("w", newline="") as fout:
        rows = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=rows.fieldnames or ["emotion", "pixels", "Usage"])
        writer.writeheader()
        for row in rows:
            usage = row.get("Usage") or "Training"
            key = (row.get("emotion"), usage)
            if taken[key] < (train_per_class if usage == "Training" else test_per_class):
                taken[key] += 1
                writer.writerow(row)
    return out


def count_files(path: Path) -> int:
    if path.is_file():
        with path.open() as f:
            return max(0, sum(1 for _ in f) - 1)
    return sum(1 for p in path.rglob("*") if p.suffix.lower() in SUFFIXES)
