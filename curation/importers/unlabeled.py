"""Pictures with no label (the MMI case): every image under DIR; faces arrive unreviewed, no suggestion."""
from __future__ import annotations

from pathlib import Path

from curation.importers.common import DatasetError, Item, Listing, dataset_files, text_path

DEFAULT_CROP = "detect"
LICENSE = None


def items(root: Path, mapping: dict[str, str | None], classes: list[str]) -> Listing:
    if not root.is_dir():
        raise DatasetError(f"{root}: not a directory")
    images, left_out = dataset_files(root)
    return Listing([Item(text_path(p.relative_to(root)), file=str(p)) for p in images], left_out)
