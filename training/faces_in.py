"""The labeled faces `evaluate` and `compare` score a model on: a catalog split, a FER2013-format
CSV, or a class-folder tree of pre-cropped faces or of photos (faces found by curation's extractor).

Every input becomes a FaceSet: a label and a name per face, catalog ids where known, and the
pixels at whatever size a model asks for (Lanczos, curation.crops.to_gray_square, as training saw
them). Pixel hashes at the model's size match the hashes of the faces it trained on (model.json),
whichever file a face comes from.
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from curation.crops import to_gray_square
from curation.faces import ExtractSettings, FaceFinder
from curation.importers.common import in_class_folders, text_path
from curation.importers.fer2013 import EMOTIONS
from curation.imaging import UnreadableImage, decode_gray
from curation.selection import SelectionSpec, select_split
from db.catalog import Catalog
from training import cache, modelio
from training.errors import TrainingError

CROPS = ("none", "detect")


@dataclass
class FaceSet:
    description: str
    labels: list[str]
    names: list[str]  # where each face came from: "face 12", "file.csv:3", "happy/x.jpg"
    ids: list[int | None]  # catalog face ids, where known
    load: Callable[[int], np.ndarray]  # size -> (N, size, size) uint8
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it has no face here
    _by_size: dict[int, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def pixels(self, size: int) -> np.ndarray:
        if size not in self._by_size:
            self._by_size[size] = self.load(size)
        return self._by_size[size]

    def hashes(self, size: int) -> list[str]:
        return [cache.pixel_hash(p) for p in self.pixels(size)]

    def subset(self, keep: np.ndarray) -> "FaceSet":
        idx = np.flatnonzero(keep)
        sizes = {s: a[idx] for s, a in self._by_size.items()}
        parent = self
        return FaceSet(self.description, [self.labels[i] for i in idx], [self.names[i] for i in idx],
                       [self.ids[i] for i in idx], lambda s: parent.pixels(s)[idx], dict(self.skipped), sizes)

    def mapped(self, class_map: dict[str, str | None]) -> "FaceSet":
        """Labels renamed by the map; faces whose label it drops are left out."""
        if not class_map:
            return self
        new = [class_map.get(k, k) for k in self.labels]
        out = self.subset(np.array([k is not None for k in new], dtype=bool))
        out.labels = [k for k in new if k is not None]
        return out


def _resized(arrays: list[np.ndarray], size: int) -> np.ndarray:
    out = np.zeros((len(arrays), size, size), dtype=np.uint8)
    for i, a in enumerate(arrays):
        out[i] = a if a.shape == (size, size) else np.asarray(to_gray_square(a, size))
    return out


def from_catalog(catalog: Catalog, card: modelio.ModelCard, split: str, sources: tuple[str, ...] | None = None,
                 bar=None) -> tuple[FaceSet, str | None]:
    """The model's own selection (its recorded spec, --source overriding the sources), one split.
    Also returns a note when the split is not the one the model recorded (the catalog changed)."""
    s = card.data.get("selection")
    if not s:
        raise TrainingError(f"{card.path} records no catalog selection; evaluate it on --csv or --folders")
    recorded_spec = SelectionSpec.from_dict(s)
    # --source overrides the recorded sources; the issue exclusion is not applied here.
    spec = dataclasses.replace(recorded_spec, sources=sources or recorded_spec.sources, exclude_issues=None)
    sel = select_split(catalog, spec)
    chosen = [a for a in sel.assignments if a.split == split]
    if not chosen:
        other = sorted({a.split for a in sel.assignments} - {"train", split})
        raise TrainingError(f"no faces in the {split} split of the model's selection (split {spec.split!r})"
                            + (f"; try --split {other[0]}" if other else ""))
    note = None
    recorded = s.get("split_sha256", {}).get(split)
    if recorded and not sources and recorded != modelio.ids_sha256([a.face.id for a in chosen]):
        note = (f"the catalog changed since the model was trained: its {split} split now holds other faces "
                "(the recorded split hash differs)")
    desc = f"the catalog's {split} split ({', '.join(spec.sources) if spec.sources else 'all sources'})"

    def load(size: int) -> np.ndarray:
        return cache.selection_pixels(catalog, chosen, size, progress=bar).pixels

    return FaceSet(desc, [a.label for a in chosen], [f"face {a.face.id}" for a in chosen],
                   [a.face.id for a in chosen], load), note


def from_csv(path: Path, usage: str | None = None) -> FaceSet:
    """A FER2013-format CSV (emotion 0..6, pixels, optional Usage), only the rows of `usage` if given."""
    labels, names, arrays = [], [], []
    usages = set()
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"emotion", "pixels"} - set(reader.fieldnames or ())
            if missing:
                raise TrainingError(f"{path}: not a FER2013 CSV (no column {', '.join(sorted(missing))})")
            for row in reader:
                where = f"{path.name}:{reader.line_num}"
                row_usage = (row.get("Usage") or "").strip()
                usages.add(row_usage)
                if usage and row_usage.lower() != usage.lower():
                    continue
                try:
                    label = EMOTIONS[int(row["emotion"])]
                    values = np.array(row["pixels"].split(), dtype=np.int64)
                except (ValueError, IndexError, TypeError, AttributeError):
                    raise TrainingError(f"{where}: not a FER2013 row (emotion 0..6, space-separated pixels)") from None
                side = int(round(len(values) ** 0.5))
                if side * side != len(values) or side == 0 or values.min() < 0 or values.max() > 255:
                    raise TrainingError(f"{where}: {len(values)} pixel values is not a square 8-bit image")
                labels.append(label)
                names.append(where)
                arrays.append(values.astype(np.uint8).reshape(side, side))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainingError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    if not labels:
        known = ", ".join(sorted(u for u in usages if u)) or "none"
        raise TrainingError(f"{path}: no rows" + (f" with Usage {usage!r} (its usages: {known})" if usage else ""))
    desc = f"{path.name}" + (f" ({usage})" if usage else "")
    return FaceSet(desc, labels, names, [None] * len(labels), lambda size: _resized(arrays, size))


def from_folders(root: Path, crop: str = "none", settings: ExtractSettings | None = None, bar=None) -> FaceSet:
    """DIR/<class>/**/*.png: each file a pre-cropped face (crop none), or a photo whose largest face
    curation's extractor finds and aligns (crop detect)."""
    if not root.is_dir():
        raise TrainingError(f"{root}: not a directory (expected one folder per class)")
    try:
        files, _ = in_class_folders(root)  # the importers' own listing: symlinks followed, hidden files left out
    except OSError as exc:
        raise TrainingError(f"cannot read {getattr(exc, 'filename', None) or root}: {exc.strerror or exc}") from None
    if not files:
        raise TrainingError(f"{root}: no images in class folders (expected {root.name}/<class>/*.png)")
    finder = FaceFinder(settings or ExtractSettings()) if crop == "detect" else None
    labels, names, arrays, skipped = [], [], [], {}
    if bar is not None:
        bar.reset(total=len(files))
    for p in files:
        name = text_path(p.relative_to(root))
        try:
            decoded = decode_gray(p)
        except UnreadableImage as exc:
            skipped[name] = str(exc)
            continue
        finally:
            if bar is not None:
                bar.update(1)
        if finder is None:
            gray = decoded.gray
        else:
            found = finder.find(decoded.gray, decoded.scale)
            if not found:
                skipped[name] = "no face found"
                continue
            gray = max(found, key=lambda f: f.bbox[2] * f.bbox[3]).crop
        labels.append(p.relative_to(root).parts[0])
        names.append(name)
        arrays.append(gray)
    if not labels:
        raise TrainingError(f"{root}: none of its {len(files)} images gave a face"
                            + (f" (e.g. {next(iter(skipped))}: {next(iter(skipped.values()))})" if skipped else ""))
    desc = f"{root.name}/ ({'faces found by the extractor' if finder else 'pre-cropped faces'})"
    return FaceSet(desc, labels, names, [None] * len(labels), lambda size: _resized(arrays, size), skipped)


def check_classes(faces: FaceSet, card: modelio.ModelCard) -> None:
    """Classes are matched by name: a label the model does not have is an error that names it."""
    missing = sorted(set(faces.labels) - set(card.classes))
    if missing:
        raise TrainingError(f"model {card.name} has no class {', '.join(map(repr, missing))} (its classes: "
                            f"{', '.join(card.classes)}); drop or rename with --map {missing[0]}= or {missing[0]}=CLASS")


def seen_in_training(faces: FaceSet, card: modelio.ModelCard) -> np.ndarray:
    """Which faces the model trained on: by catalog id, or by pixel hash at its input size."""
    ids, hashes = card.training_ids(), card.training_hashes()
    by_hash = faces.hashes(card.input_size) if hashes else [None] * len(faces)
    return np.array([(i is not None and i in ids) or (h is not None and h in hashes)
                     for i, h in zip(faces.ids, by_hash)], dtype=bool)
