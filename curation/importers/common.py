"""What every importer shares: dataset items, class-name mapping, and the import run itself.

reader (a kind's module lists its items) -> workers (read, decode, store the original in the blob
store, encode the crop; a process pool here, or Ray tasks on a cluster) -> writer (the parent adds
images and faces in batches of 1000).

Idempotent and resumable: a file that already is a face of this source is skipped (--crop none), an
original already in the catalog (same sha256) is not stored twice, and extraction only reads
pending images (--crop detect); importing twice adds nothing. The source is added with the first
picture stored, so an import where every file fails adds no empty source.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from curation.crops import encode_crop, encode_precropped
from curation.imaging import UnreadableImage, decode_gray
from curation.pool import ordered_map
from db.blobs import BlobStore
from db.catalog import Catalog
from db.errors import CatalogError
from db.executor import RayCluster, chunks
from db.types import FaceFilter, NewFace, NewImage, NewSource

BATCH = 1000  # images per catalog write (the catalog does one statement per 1000 rows)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
NOT_IN_CLASS_FOLDER = "not inside a class folder"


class DatasetError(Exception):
    """The dataset is not what its kind expects (one line, for the user)."""


@dataclass(frozen=True)
class Item:
    """One picture of a dataset."""

    dataset_path: str  # where it is inside the dataset (relative path, or "file.csv:line")
    file: str | None = None  # the file to read, or:
    pixels: str | None = None  # FER2013 CSV: space-separated gray values of a square image
    label: str | None = None
    split_hint: str | None = None
    error: str | None = None  # known bad when listed (a CSV row's emotion): fails like an unreadable file


@dataclass
class Listing:
    """What an importer found at a dataset path: the items to import, and the files it leaves out,
    each with the reason (a text file in a class folder, a picture outside any class folder)."""

    items: list[Item]
    left_out: dict[str, str] = field(default_factory=dict)  # dataset path -> why it is not imported


@dataclass
class ImportSummary:
    source: str
    kind: str
    crop: str
    files: int = 0
    images_added: int = 0
    faces_added: int = 0
    skipped: int = 0  # already imported by an earlier run
    duplicates: int = 0  # same bytes as another file of this dataset (--crop none: still its own face)
    failed: dict[str, str] = field(default_factory=dict)  # dataset path -> reason
    # --crop detect: files whose bytes are an image the catalog already holds (another source's, or
    # another file's of this dataset): they get no image, face or label of their own.
    # dataset path -> "image N (source S)"
    shared_with_existing: dict[str, str] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # files of the dataset that are not imported, and why
    extraction: dict | None = None  # --crop detect: the extraction's summary (curate extract --json)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {**self.__dict__, "seconds": round(self.seconds, 2)}


def resolve_classes(names: Sequence[str], mapping: dict[str, str | None], classes: Sequence[str]) -> dict[str, str | None]:
    """Each dataset class name -> a catalog class (None: dropped). Names that are neither a class
    nor covered by --map are an error that lists them all."""
    resolved: dict[str, str | None] = {}
    unknown = []
    for name in sorted(set(names)):
        target = mapping[name] if name in mapping else name
        if target is not None and target not in classes:
            unknown.append(name if name not in mapping else f"{name}={target}")
        resolved[name] = target
    if unknown:
        raise DatasetError(
            f"not catalog classes: {', '.join(unknown)} (classes: {', '.join(classes)}); "
            "rename or drop them with --map NAME=CLASS,NAME="
        )
    return resolved


def text_path(path: Path | str) -> str:
    """A path as text the catalog can store: the bytes of a name that is not UTF-8 (an old
    archive's Latin-1 names) are written as \\xNN; the file itself is read by its real name."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def dataset_files(root: Path) -> tuple[list[Path], dict[str, str]]:
    """Image files under root, recursively, in a stable order, and the other files (dataset path ->
    why they are left out). Folders reached through a symbolic link are read like any other (each
    real folder once); hidden files and folders (.DS_Store, .git) are left out without a word."""
    images: list[Path] = []
    left_out: dict[str, str] = {}
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(root, followlinks=True, onerror=_raise):
        here = Path(folder)
        real = here.stat()
        if (real.st_dev, real.st_ino) in seen:  # a link back up the tree, or a second link to one folder
            left_out[text_path(here.relative_to(root))] = "a folder listed already (a symbolic link to it)"
            dirs.clear()
            continue
        seen.add((real.st_dev, real.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            p = here / name
            if p.suffix.lower() not in IMAGE_SUFFIXES:
                left_out[text_path(p.relative_to(root))] = f"not an image file ({p.suffix.lower() or 'no suffix'})"
            elif not p.is_file():
                left_out[text_path(p.relative_to(root))] = "a broken link or not a file"
            else:
                images.append(p)
    return sorted(images), dict(sorted(left_out.items()))


def _raise(exc: OSError) -> None:
    raise exc  # an unreadable folder is an error (one line), not a silently smaller dataset


def in_class_folders(root: Path) -> tuple[list[Path], dict[str, str]]:
    """dataset_files, keeping only the images inside a folder (DIR/<class>/...): pictures lying at
    the top of root are left out too."""
    images, left_out = dataset_files(root)
    outside = [p for p in images if len(p.relative_to(root).parts) < 2]
    left_out.update({text_path(p.relative_to(root)): NOT_IN_CLASS_FOLDER for p in outside})
    return [p for p in images if len(p.relative_to(root).parts) >= 2], dict(sorted(left_out.items()))


def describe_left_out(left_out: dict[str, str], limit: int = 3) -> str:
    """"3 files left out (notes.txt: not an image file (.txt), ...)" for an error message."""
    shown = ", ".join(f"{path}: {why}" for path, why in list(left_out.items())[:limit])
    more = f", and {len(left_out) - limit} more" if len(left_out) > limit else ""
    return f"{len(left_out)} {'file' if len(left_out) == 1 else 'files'} left out ({shown}{more})"


# --- worker side -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stored:
    """A picture's original, put into the blob store by a worker."""

    sha256: str
    blob_path: str
    width: int
    height: int
    format: str


@dataclass(frozen=True)
class Prepared:
    item: Item
    stored: Stored | None  # None: failed (error says why)
    face: NewFace | None = None  # --crop none: the whole picture as the face
    error: str | None = None


_store: BlobStore | None = None
_size: int | None = None  # crop size, or None for --crop detect


def _init_worker(store: BlobStore, size: int | None) -> None:
    global _store, _size
    _store, _size = store, size


def prepare(item: Item, store: BlobStore, size: int | None) -> Prepared:
    """Decode one picture, store its original, and (with a size) encode it as a pre-cropped face."""
    if item.error is not None:
        return Prepared(item, None, error=item.error)
    try:
        if item.pixels is not None:
            gray = _pixels_to_array(item.pixels)
            data, fmt = encode_crop(gray, gray.shape[0])[0], "PNG"  # the CSV row, stored losslessly
            width = height = gray.shape[0]
        else:
            data = Path(item.file).read_bytes()
            decoded = decode_gray(data)
            gray, fmt, width, height = decoded.gray, decoded.format, decoded.width, decoded.height
    except (UnreadableImage, DatasetError, OSError) as exc:
        return Prepared(item, None, error=str(exc))
    sha, rel = store.put_bytes(data, fmt)
    stored = Stored(sha256=sha, blob_path=rel, width=width, height=height, format=fmt)
    if size is None:
        return Prepared(item, stored)
    # A picture smaller than the catalog's size is kept at its own size (db.pixels resizes on read).
    crop = encode_precropped(gray, size)
    face = NewFace(bbox=(0, 0, width, height), crop_png=crop.png, crop_size=size, stored_size=crop.stored_size,
                   phash=crop.phash, pixel_sha256=crop.pixel_sha256, detector="none",
                   settings={"crop": "none", "size": size}, label=item.label, split_hint=item.split_hint,
                   dataset_path=item.dataset_path)
    return Prepared(item, stored, face)


def _new_image(p: Prepared, source_id: int) -> NewImage:
    s, item = p.stored, p.item
    return NewImage(sha256=s.sha256, blob_path=s.blob_path, width=s.width, height=s.height, format=s.format,
                    source_id=source_id, dataset_path=item.dataset_path, label=item.label, split_hint=item.split_hint)


def _pixels_to_array(text: str) -> np.ndarray:
    words = text.split()
    try:
        values = np.array(words, dtype=np.int64)
    except ValueError:
        bad = next((w for w in words if not (w.isascii() and w.lstrip("+-").isdigit())), text)
        raise DatasetError(f"pixels: {bad[:20]!r} is not a number from 0 to 255") from None
    side = int(round(len(values) ** 0.5))
    if side * side != len(values) or side == 0 or values.min() < 0 or values.max() > 255:
        raise DatasetError(f"pixels: {len(values)} values is not a square 8-bit image")
    return values.astype(np.uint8).reshape(side, side)


def _work(item: Item) -> Prepared:
    return prepare(item, _store, _size)


class DatasetNotVisible(CatalogError):
    """A Ray worker cannot see the dataset: it must be on storage every node mounts at one path."""


def prepare_batch(items: Sequence[Item], store: BlobStore, size: int | None, dataset: str | None) -> list[Prepared]:
    """A Ray task: a batch of a dataset's pictures, each read, stored and (with a size) encoded."""
    if dataset and any(it.file for it in items) and not os.path.exists(dataset):
        raise DatasetNotVisible(f"a Ray worker on {socket.gethostname()} cannot see the dataset {dataset}: it must be "
                                "on storage that every node mounts at the same path (NFS), as the blob store is")
    return [prepare(it, store, size) for it in items]


def _crashed(item: Item) -> Prepared:
    return Prepared(item, None, error="worker crashed")  # its decoder killed the process


# --- parent side -------------------------------------------------------------------------------
def run_import(
    catalog: Catalog,
    source: NewSource,
    items: Sequence[Item],
    crop: str,
    size: int,
    workers: int | None = None,
    on_progress: Callable[[int], None] | None = None,
    cluster: RayCluster | None = None,
) -> ImportSummary:
    """Import these items as `source` (found again by kind and name, so a re-import adds nothing).

    crop "none": each picture is a face, resized to size. crop "detect": the pictures become pending
    images; run the extraction on the source next (see cli_import). The source is added (or found)
    with the first picture stored: when every item fails, the catalog is left as it was.
    """
    started = time.perf_counter()
    summary = ImportSummary(source=source.name, kind=source.params.get("importer", source.kind), crop=crop,
                            files=len(items))
    existing = catalog.find_source(source.kind, source.name)
    source_id = existing.id if existing else None
    if existing and crop == "none":
        # A re-import (or the rest of a stopped one): files that already are faces of this source are done.
        done = {f.dataset_path for f in catalog.iter_faces(FaceFilter(sources=(source.name,), include_deleted=True))}
        todo = [it for it in items if it.dataset_path not in done]
        summary.skipped = len(items) - len(todo)
        items = todo
    seen_sha: set[str] = set()
    # --crop detect: the images of this source from an earlier run; each is claimed by the first
    # file of this run that has its bytes (that file was imported already), later ones share it.
    own = catalog.image_ids_of_source(source.name) if existing else set()
    claimed: dict[int, str] = {}  # image id -> dataset path of the file it stands for in this run
    shared: dict[str, int] = {}  # dataset path -> the existing image it got
    workers = max(1, min(workers or os.cpu_count() or 1, len(items) or 1))
    face_size = size if crop == "none" else None

    def write(batch: list[Prepared]) -> None:
        nonlocal source_id
        ok = [p for p in batch if p.stored is not None]
        if ok and source_id is None:
            source_id = catalog.find_or_add_source(source)[0]  # another run of this import may have made it
        # --crop none: each file is a face with its own label and provenance, even when its bytes are
        # shared with another file (FER2013 has 1,516 such groups) or another source.
        refs = catalog.add_images_with_faces(
            [(_new_image(p, source_id), replace(p.face, source_id=source_id) if p.face is not None else None)
             for p in ok]
        ) if ok else []
        for p, ref in zip(ok, refs):
            if ref is None:
                summary.skipped += 1  # imported meanwhile by another run of this import
                continue
            if ref.created:
                summary.images_added += 1
            elif p.stored.sha256 in seen_sha:
                summary.duplicates += 1  # same bytes as another file of this dataset
            seen_sha.add(p.stored.sha256)
            if p.face is not None:
                summary.faces_added += 1
            elif ref.id in claimed or not (ref.created or ref.id in own):
                shared[p.item.dataset_path] = ref.id  # no image, face or label of its own
            else:
                if not ref.created:
                    summary.skipped += 1  # imported by an earlier run
                claimed[ref.id] = p.item.dataset_path
        for p in batch:
            if p.stored is None:
                summary.failed[p.item.dataset_path] = p.error or "unknown error"
        if on_progress:
            on_progress(len(batch))

    batch: list[Prepared] = []
    if cluster is not None:
        # Tasks of 64 pictures; the parent still writes 1,000 at a time, with the same claims.
        for _, prepared in cluster.map(prepare_batch, chunks(items, cluster.batch_size(len(items), 64)),
                                       (catalog.blobs, face_size, source.path), crashed=_crashed):
            batch.extend(prepared)
            if len(batch) >= BATCH:
                write(batch)
                batch = []
    elif workers == 1:
        store = catalog.blobs
        results = (prepare(it, store, face_size) for it in items)
        for p in results:
            batch.append(p)
            if len(batch) >= BATCH:
                write(batch)
                batch = []
    else:
        for p in ordered_map(_work, items, workers, _init_worker, (catalog.blobs, face_size), _crashed,
                             chunk=64):
            batch.append(p)
            if len(batch) >= BATCH:
                write(batch)
                batch = []
    if batch:
        write(batch)
    summary.shared_with_existing = _describe_shared(catalog, shared, claimed, source.name)
    summary.seconds = time.perf_counter() - started
    return summary


def _describe_shared(catalog: Catalog, shared: dict[str, int], claimed: dict[int, str], name: str) -> dict[str, str]:
    """dataset path -> "image N (source S)" for the files that got an existing image (--crop detect)."""
    owner = catalog.image_sources(sorted(set(shared.values()))) if shared else {}
    return {
        path: f"image {iid} (source {owner.get(iid, '?')}" + (f", same bytes as {claimed[iid]})" if iid in claimed else ")")
        for path, iid in shared.items()
    }
