"""A browsable folder per query, made from the catalog (which stays the single truth).

    VIEW/angry_human_face/0001_3fa9c2d1.jpg -> <store>/images/3f/3fa9c2d1....jpg   (symbolic links)

Rebuilding a query's folder replaces its links, so the folder always matches the catalog.
"""
from __future__ import annotations

import re
from pathlib import Path

from db.catalog import Catalog


def folder_name(query: str) -> str:
    """Safe characters only: "Angry human face!" -> "angry_human_face"."""
    return re.sub(r"[^a-z0-9]+", "_", query.lower()).strip("_") or "query"


def scraped_queries(catalog: Catalog) -> list[str]:
    return list(dict.fromkeys(s.query for s in catalog.sources() if s.kind == "scrape" and s.query))


def build_view(catalog: Catalog, out_dir: Path, queries: list[str] | None = None) -> dict[str, int]:
    """Write one folder of links per query (all scraped queries when none given); returns counts."""
    counts = {}
    for query in queries or scraped_queries(catalog):
        folder = Path(out_dir) / folder_name(query)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if old.is_symlink():
                old.unlink()
        images = catalog.images_to_extract(queries=[query], redo=True)
        for n, im in enumerate(images, 1):
            target = catalog.blobs.path(im.blob_path).resolve()
            (folder / f"{n:04d}_{im.sha256[:8]}{target.suffix}").symlink_to(target)
        counts[query] = len(images)
    return counts
