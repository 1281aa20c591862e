"""FER2013: the Kaggle CSV (emotion, pixels, Usage) or the image-folder layout (train/, test/).

Pre-cropped 48x48 faces (default --crop none); the Usage / file-name prefix is kept as split hint.
"""
from __future__ import annotations

import csv
from pathlib import Path

from curation.importers.common import (
    DatasetError, Item, Listing, describe_left_out, in_class_folders, resolve_classes, text_path,
)

DEFAULT_CROP = "none"
LICENSE = "FER2013 (Kaggle, ICML 2013 challenge): research use; see the challenge's terms"
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")  # the CSV's 0..6
PREFIXES = ("Training", "PublicTest", "PrivateTest")  # file-name prefixes of the folder layout


def items(path: Path, mapping: dict[str, str | None], classes: list[str]) -> Listing:
    return _csv_items(path, mapping, classes) if path.is_file() else _folder_items(path, mapping, classes)


def _csv_items(path: Path, mapping, classes) -> Listing:
    labels = resolve_classes(EMOTIONS, mapping, classes)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: Excel's "CSV UTF-8" starts with a BOM
            return Listing(_read_csv(path, csv.DictReader(f), labels))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path.name}: not a FER2013 CSV (not UTF-8 text: byte {exc.start})") from None
    except csv.Error as exc:
        raise DatasetError(f"{path.name}: not a FER2013 CSV ({exc})") from None


def _read_csv(path: Path, reader: csv.DictReader, labels: dict[str, str | None]) -> list[Item]:
    out = []
    missing = {"emotion", "pixels"} - set(reader.fieldnames or ())
    if missing:
        raise DatasetError(f"{path.name}: not a FER2013 CSV (missing column {', '.join(sorted(missing))})")
    name = text_path(path.name)  # rows are stored as name:line
    for row in reader:
        where = f"{name}:{reader.line_num}"
        code = (row["emotion"] or "").strip()
        if not (code.isascii() and code.isdigit() and int(code) < len(EMOTIONS)):
            out.append(Item(where, error=f"emotion {row['emotion']!r} is not 0..6"))  # this row fails, the rest go on
            continue
        emotion = EMOTIONS[int(code)]
        if labels[emotion] is None:
            continue
        out.append(Item(where, pixels=row["pixels"] or "", label=labels[emotion],
                        split_hint=(row.get("Usage") or "").strip() or None))
    return out


def _folder_items(root: Path, mapping, classes) -> Listing:
    files, left_out = in_class_folders(root)
    if not files:
        raise DatasetError(f"{root}: no images in class folders (expected train/<class>/*.jpg, test/<class>/*.jpg)"
                           + (f"; {describe_left_out(left_out)}" if left_out else ""))
    labels = resolve_classes([p.parent.name for p in files], mapping, classes)
    out = []
    for p in files:
        if labels[p.parent.name] is None:
            continue
        prefix = p.name.split("_", 1)[0]
        split = prefix if prefix in PREFIXES else p.relative_to(root).parts[0]  # else the top folder: train/test
        out.append(Item(text_path(p.relative_to(root)), file=str(p), label=labels[p.parent.name], split_hint=split))
    return Listing(out, left_out)
