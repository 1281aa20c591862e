"""`curate extract`: faces out of the catalog's pending images, on every core or on a Ray cluster.

reader (the catalog's pending images) -> workers (read the blob, decode, detect, align, crop, encode;
each process loads the dlib models once) -> writer (the parent stores the results: locally one
transaction per image; from Ray one per batch, through Catalog.save_extractions and its claims).
Resumable: an image leaves PENDING only when its result is stored, so a stopped run picks up where it
was. Idempotent: without --redo only PENDING images are read.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from curation.crops import encode_crop
from curation.faces import ExtractSettings, FaceFinder
from curation.imaging import UnreadableImage, decode_gray
from curation.pool import ordered_map
from curation.selection import check_names
from db.blobs import BlobStore
from db.catalog import Catalog
from db.executor import RayCluster, chunks
from db.types import ExtractionResult, ExtractionState, FaceFilter, FaceRow, ImageTask, NewFace

WORKER_CRASHED = "worker crashed"  # the reason kept for an image whose worker process died
SAME_FACE_IOU = 0.5  # a --redo face overlapping an old one this much is the same face: it keeps the label
RAY_BATCH = 16  # most images per Ray task (fewer when the run is small, so every CPU gets work)

ImageResult = ExtractionResult  # what a worker hands back: the catalog's own plain type


@dataclass
class ExtractSummary:
    images: int = 0
    faces: int = 0
    no_face: int = 0
    unreadable: int = 0
    labels_kept: int = 0  # --redo: faces that kept an earlier face's annotation
    labels_unmatched: int = 0  # --redo: labeled or reviewed faces not found again: kept as they were
    skipped_precropped: int = 0  # --redo: images imported with --crop none are left alone
    extracted_elsewhere: int = 0  # pending when listed, extracted meanwhile by another run: left as they were
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)  # blob path -> reason

    def as_dict(self) -> dict:
        d = dict(self.__dict__)
        d["faces_per_second"] = round(self.faces / self.seconds, 1) if self.seconds else None
        d["seconds"] = round(self.seconds, 2)
        return d


# --- worker side -------------------------------------------------------------------------------
_finder: FaceFinder | None = None
_store: BlobStore | None = None
_finders: dict[ExtractSettings, FaceFinder] = {}  # Ray: a worker process keeps its models between tasks


def _init_worker(settings: ExtractSettings, store: BlobStore) -> None:
    global _finder, _store
    _finder, _store = FaceFinder(settings), store


def blob_source(store: BlobStore, relpath: str) -> str | bytes:
    """What the decoder reads: the file of a directory store (Pillow reads only what it needs), the
    bytes of an object store's blob. A blob missing from an object store is FileNotFoundError."""
    return str(store.path(relpath)) if store.is_local else store.read(relpath)


def extract_blob(finder: FaceFinder, store: BlobStore, relpath: str, task: ImageTask) -> ImageResult:
    try:
        source = blob_source(store, relpath)
    except FileNotFoundError:
        return ImageResult(task.id, ExtractionState.UNREADABLE, [], f"file not found: {relpath} in {store}")
    return extract_image(finder, source, task)


def extract_batch(jobs: Sequence[tuple[str, ImageTask]], settings: ExtractSettings, store: BlobStore) -> list[ImageResult]:
    """A Ray task: a batch of (blob path, image) to results (a store that cannot be reached raises)."""
    finder = _finders.get(settings)
    if finder is None:
        finder = _finders[settings] = FaceFinder(settings)
    return [extract_blob(finder, store, rel, task) for rel, task in jobs]


def extract_image(finder: FaceFinder, path: str | Path | bytes, task: ImageTask) -> ImageResult:
    """Everything for one image, from its file (or bytes) to the faces ready to store."""
    s = finder.settings
    try:
        decoded = decode_gray(path, keep_pixels=int(4 * s.detect_mp * 1e6))
    except UnreadableImage as exc:
        return ImageResult(task.id, ExtractionState.UNREADABLE, [], str(exc))
    try:
        found = finder.find(decoded.gray, decoded.scale)
    except RuntimeError as exc:  # dlib refusing an image must not stop the run
        return ImageResult(task.id, ExtractionState.UNREADABLE, [], f"detector failed: {exc}")
    faces = []
    for f in found:
        png, phash, pixel_sha = encode_crop(f.crop, s.size)
        faces.append(NewFace(
            bbox=f.bbox, crop_png=png, crop_size=s.size, phash=phash, pixel_sha256=pixel_sha,
            detector=s.detector, score=f.score, landmarks=f.landmarks, settings=s.as_dict(),
            label=task.label, suggested_label=task.suggested_label, split_hint=task.split_hint,
        ))
    state = ExtractionState.FACES if faces else ExtractionState.NO_FACE
    return ImageResult(task.id, state, faces)


def _work(job: tuple[str, ImageTask]) -> ImageResult:
    relpath, task = job
    return extract_blob(_finder, _store, relpath, task)


def _crashed(job: tuple[str, ImageTask]) -> ImageResult:
    # The decoder or detector killed its process (a segfault, out of memory): this image only.
    return ImageResult(job[1].id, ExtractionState.UNREADABLE, [], WORKER_CRASHED)


# --- parent side -------------------------------------------------------------------------------
def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union else 0.0


def match_same_faces(new: Sequence[NewFace], old: Sequence[FaceRow]) -> dict[int, int]:
    """new face index -> old face id, one to one, best overlap first (IoU >= SAME_FACE_IOU)."""
    pairs = sorted(
        ((iou(n.bbox, o.bbox), i, o.id) for i, n in enumerate(new) for o in old),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    carry: dict[int, int] = {}
    used: set[int] = set()
    for overlap, i, oid in pairs:
        if overlap >= SAME_FACE_IOU and i not in carry and oid not in used:
            carry[i] = oid
            used.add(oid)
    return carry


def run_extraction(
    catalog: Catalog,
    settings: ExtractSettings,
    sources: Sequence[str] | None = None,
    queries: Sequence[str] | None = None,
    redo: bool = False,
    workers: int | None = None,
    on_result: Callable[[ImageResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    cluster: RayCluster | None = None,
) -> ExtractSummary:
    """Extract faces from the pending images (with redo: all of them) of these sources/queries,
    on this machine's processes, or on a Ray cluster (workers is then the cluster's business)."""
    started = time.perf_counter()
    check_names(catalog, sources, queries)
    tasks = catalog.images_to_extract(sources, queries, redo=redo)
    summary = ExtractSummary()
    old_faces: dict[int, list[FaceRow]] = {}
    if redo:
        # By image, not by source: an image's faces may come from several sources (per-face provenance).
        wanted = {t.id for t in tasks}
        for row in catalog.iter_faces(FaceFilter(include_deleted=True)):
            if row.image_id in wanted:
                old_faces.setdefault(row.image_id, []).append(row)
        kept = []
        for t in tasks:
            olds = old_faces.get(t.id, [])
            if olds and all(o.detector == "none" for o in olds):
                summary.skipped_precropped += 1  # a dataset's own crops: nothing to detect again
            else:
                kept.append(t)
        tasks = kept
    jobs = [(t.blob_path, t) for t in tasks]
    if on_start:
        on_start(len(jobs))
    by_id = {t.id: t for t in tasks}
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))

    def count(result: ImageResult, saved, olds: Sequence[FaceRow] = (), carried: int = 0) -> None:
        if saved.extracted_elsewhere:
            summary.extracted_elsewhere += 1
            if on_result:
                on_result(result)
            return
        summary.images += 1
        summary.faces += len(result.faces)
        summary.labels_kept += carried
        summary.labels_unmatched += sum(1 for i in saved.kept_face_ids if i in {o.id for o in olds})
        if result.state is ExtractionState.NO_FACE:
            summary.no_face += 1
        elif result.state is ExtractionState.UNREADABLE:
            summary.unreadable += 1
            summary.errors[by_id[result.image_id].blob_path] = result.error or ""
        if on_result:
            on_result(result)

    def store(result: ImageResult) -> None:
        if redo and result.error == WORKER_CRASHED:
            # Nothing was learnt about this image: its earlier faces and state stay as they were.
            summary.images += 1
            summary.unreadable += 1
            summary.errors[by_id[result.image_id].blob_path] = WORKER_CRASHED
            if on_result:
                on_result(result)
            return
        olds = [o for o in old_faces.get(result.image_id, []) if o.detector != "none"]
        carry = match_same_faces(result.faces, olds) if olds else {}
        # The catalog keeps, inside the same transaction, every old face with a label or a review
        # that is not carried over: a person's work is never discarded by new settings.
        saved = catalog.save_extraction(result.image_id, result.state, result.faces, result.error,
                                        replace=redo, carry_annotations=carry)
        count(result, saved, olds, len(carry))

    if cluster is not None:
        # A batch per task; its results reach the catalog in one transaction (a --redo image by
        # image, to carry its labels), in the images' order as locally.
        for _, results in cluster.map(extract_batch, chunks(jobs, cluster.batch_size(len(jobs), RAY_BATCH)),
                                      (settings, catalog.blobs), crashed=_crashed):
            if redo:
                for result in results:
                    store(result)
            else:
                for result, saved in zip(results, catalog.save_extractions(results)):
                    count(result, saved)
    elif workers == 1:
        finder = FaceFinder(settings)
        for relpath, task in jobs:
            store(extract_blob(finder, catalog.blobs, relpath, task))
    else:
        # Workers never touch the catalog (only the parent writes). Results come in the images'
        # order, so face ids are the same whatever the worker count.
        for result in ordered_map(_work, jobs, workers, _init_worker, (settings, catalog.blobs), _crashed):
            store(result)
    summary.seconds = time.perf_counter() - started
    return summary
