"""A browsable folder per query, made from the catalog (which stays the single truth).

    VIEW/angry_human_face/0001_3fa9c2d1.jpg -> <store>/images/3f/3fa9c2d1....jpg   (symbolic links)

With the blobs in object storage the folder holds copies instead of links. Rebuilding a query's
folder replaces its links, so the folder always matches the catalog. Queries
whose safe names collide ("a" and "A!") get numbered folders (a/, a_2/) in the order they were
first scraped, so a query's folder never changes.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from db.catalog import Catalog


_VIEW_NAME = re.compile(r"^\d{4,}_[0-9a-f]{8}(\.\w+)?$")


def folder_name(query: str) -> str:
    """Safe characters only: "Angry human face!" -> "angry_human_face"."""
    return re.sub(r"[^a-z0-9]+", "_", query.lower()).strip("_") or "query"


def scraped_queries(catalog: Catalog) -> list[str]:
    return list(dict.fromkeys(s.query for s in catalog.sources() if s.kind == "scrape" and s.query))


def folder_names(catalog: Catalog, queries: Iterable[str] = ()) -> dict[str, str]:
    """The folder of every scraped query (and of these queries): "a" -> a, then "A!" -> a_2."""
    names: dict[str, str] = {}
    for query in dict.fromkeys([*scraped_queries(catalog), *queries]):
        base = name = folder_name(query)
        n = 1
        while name in names.values():
            n += 1
            name = f"{base}_{n}"
        names[query] = name
    return names


def build_view(catalog: Catalog, out_dir: Path, queries: list[str] | None = None) -> dict[str, tuple[Path, int]]:
    """Write one folder of links per query (all scraped queries when none given); returns each
    query's folder and number of images."""
    names = folder_names(catalog, queries or ())
    built = {}
    for query in queries or list(names):
        folder = Path(out_dir) / names[query]
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            if old.is_symlink() or (old.is_file() and _VIEW_NAME.match(old.name)):
                old.unlink()  # links (or, for an object store, copies) of an earlier build
        # Everything the query found, in rank order, also images first downloaded by another query.
        images = catalog.query_images(query)
        for n, im in enumerate(images, 1):
            name = folder / f"{n:04d}_{im.sha256[:8]}{Path(im.blob_path).suffix}"
            if catalog.blobs.is_local:
                name.symlink_to(catalog.blobs.path(im.blob_path).resolve())
            else:  # blobs in object storage: a copy (earlier copies are replaced)
                name.unlink(missing_ok=True)
                name.write_bytes(catalog.blobs.read(im.blob_path))
        built[query] = (folder, len(images))
    return built
