"""JAFFE: DIR/KA.AN1.39.tiff = subject KA, class AN (angry), take 1, image 39. Full photos: detected."""
from __future__ import annotations

from pathlib import Path

from curation.importers.common import DatasetError, Item, Listing, dataset_files, resolve_classes, text_path

DEFAULT_CROP = "detect"
LICENSE = "JAFFE (Lyons, Kamachi, Gyoba 1998): non-commercial research use; see the JAFFE terms"
CODES = {"AN": "angry", "DI": "disgust", "FE": "fear", "HA": "happy", "NE": "neutral", "SA": "sad", "SU": "surprise"}


def items(root: Path, mapping: dict[str, str | None], classes: list[str]) -> Listing:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory of JAFFE images")
    files, names, bad = [], [], []
    images, left_out = dataset_files(root)
    for p in images:
        parts = p.name.split(".")
        code = parts[1][:2].upper() if len(parts) >= 3 else ""
        if code not in CODES:
            bad.append(p.name)
            continue
        files.append((p, CODES[code]))
        names.append(CODES[code])
    if bad:
        raise DatasetError(f"not JAFFE file names (SUBJECT.CODEn.N.tiff): {', '.join(bad[:10])}"
                           + (f" and {len(bad) - 10} more" if len(bad) > 10 else ""))
    if not files:
        raise DatasetError(f"{root}: no JAFFE images")
    labels = resolve_classes(names, mapping, classes)
    return Listing([Item(text_path(p.relative_to(root)), file=str(p), label=labels[c]) for p, c in files
                    if labels[c] is not None], left_out)
