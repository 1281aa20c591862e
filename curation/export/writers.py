"""One writer per export format. Each takes faces one at a time (in split, then face-id order) and
says where each went, for the manifest.

- folders: `{train,val,test}/<class>/<face id>.png`, what Keras' image_dataset_from_directory and
  torchvision's ImageFolder read. Every class gets a folder in every split that has faces, so class
  indices agree across splits (an empty folder is possible for a class smaller than the splits).
- csv: FER2013's own layout, `emotion,pixels,Usage` (emotion 0..6 in FER2013's class order; Usage
  Training / PublicTest / PrivateTest for train / val / test), read by FER2013 tools as is.
- npz: X (N, size, size) uint8, y (N,) class indices, split (N,) names, classes, face_ids.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Protocol

import numpy as np

from curation.export.pixels import Picture
from curation.selection import SplitAssignment
from curation.split import SPLITS
from db.catalog import DEFAULT_CLASSES

FER_CLASSES = [name for name, _key, _emoji in DEFAULT_CLASSES]  # angry, disgust, ..., neutral
FER_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
_DIGITS = [str(v) for v in range(256)]  # a table look-up is 3x faster than str() per pixel


class Writer(Protocol):
    def add(self, a: SplitAssignment, picture: Picture) -> dict:
        """Write one face; returns where it went ({"file": ...} or {"row": ...})."""

    def close(self) -> None:
        """Finish the files (nothing is left open or half-written after this)."""


class FoldersWriter:
    def __init__(self, root: Path, classes: list[str], splits: list[str]):
        self.root = root
        for split in splits:
            for k in classes:
                (root / split / k).mkdir(parents=True)

    def add(self, a: SplitAssignment, picture: Picture) -> dict:
        rel = f"{a.split}/{a.label}/{a.face.id}.png"
        (self.root / rel).write_bytes(picture.png)
        return {"file": rel}

    def close(self) -> None:
        pass


class CsvWriter:
    FILE = "fer2013.csv"

    def __init__(self, root: Path):
        self.file = open(root / self.FILE, "w", newline="", encoding="ascii")
        self.out = csv.writer(self.file, lineterminator="\n")
        self.out.writerow(["emotion", "pixels", "Usage"])
        self.rows = 0

    def add(self, a: SplitAssignment, picture: Picture) -> dict:
        self.out.writerow([FER_CLASSES.index(a.label), " ".join(map(_DIGITS.__getitem__, picture.pixels.ravel().tolist())),
                           FER_USAGE[a.split]])
        self.rows += 1
        return {"row": self.rows - 1}

    def close(self) -> None:
        self.file.close()


class NpzWriter:
    FILE = "faces.npz"

    def __init__(self, root: Path, classes: list[str], count: int, size: int):
        self.path = root / self.FILE
        self.classes = classes
        self.index = {k: i for i, k in enumerate(classes)}
        self.X = np.zeros((count, size, size), dtype=np.uint8)
        self.y = np.zeros(count, dtype=np.int64)
        self.split = np.zeros(count, dtype=f"<U{max(map(len, SPLITS))}")
        self.ids = np.zeros(count, dtype=np.int64)
        self.n = 0

    def add(self, a: SplitAssignment, picture: Picture) -> dict:
        i = self.n
        self.X[i], self.y[i], self.split[i], self.ids[i] = picture.pixels, self.index[a.label], a.split, a.face.id
        self.n += 1
        return {"row": i}

    def close(self) -> None:
        # Uncompressed: zlib would take half the export's time to save a third of the space.
        np.savez(self.path, X=self.X[: self.n], y=self.y[: self.n], split=self.split[: self.n],
                 classes=np.array(self.classes), face_ids=self.ids[: self.n])
