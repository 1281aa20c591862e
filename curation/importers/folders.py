"""One folder per class (CK+, KDEF, an export of 10k US Adult Faces...): DIR/<class>/**/*.png.

Folder names must be catalog classes unless --map renames (anger=angry) or drops (contempt=) them.
"""
from __future__ import annotations

from pathlib import Path

from curation.importers.common import (
    DatasetError, Item, Listing, describe_left_out, in_class_folders, resolve_classes, text_path,
)

DEFAULT_CROP = "detect"  # photos; use --crop none for pre-cropped sets such as CK+48
LICENSE = None


def items(root: Path, mapping: dict[str, str | None], classes: list[str]) -> Listing:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory (expected one folder per class)")
    files, left_out = in_class_folders(root)
    if not files:
        raise DatasetError(f"{root}: no images in class folders (expected {root.name}/<class>/*.png)"
                           + (f"; {describe_left_out(left_out)}" if left_out else ""))
    labels = resolve_classes([p.relative_to(root).parts[0] for p in files], mapping, classes)
    return Listing([
        Item(text_path(p.relative_to(root)), file=str(p), label=labels[p.relative_to(root).parts[0]])
        for p in files
        if labels[p.relative_to(root).parts[0]] is not None
    ], left_out)
