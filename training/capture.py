"""`train predict --video/--camera --to-catalog`: the faces a video shows, into the catalog for review.

The video (or camera) is a source of kind "video". A frame with a face to keep is stored as an
image (JPEG in the blob store; its dataset path `NAME#t=12.345`, a media-fragment time, and for a
camera the wall clock in its title) and its faces as extracted faces (the extractor's own crop,
landmarks and settings, as `curate extract` would store them) with the model's class as their
suggested label; with one model its probabilities are stored as predictions too, so the labeler
shows them and can order by them. Each face (track) is kept at most once every `interval_s`
seconds, on frames where the detector found it. Frames are written in batches, each in one
transaction (an image and its faces together); a killed run keeps what it wrote, and running the
same video again adds nothing twice (the same frames have the same bytes).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from curation.crops import encode_crop
from curation.faces import ExtractSettings
from db.catalog import Catalog
from db.types import ExtractionResult, ExtractionState, NewFace, NewImage, NewPrediction, NewSource
from training.ensemble import Ensemble
from training.registry import model_id
from training.video import Frame

BATCH_FRAMES = 20
JPEG_QUALITY = 92


@dataclass
class CaptureSummary:
    source: str
    source_id: int
    frames: int = 0  # frames stored as images
    faces: int = 0
    already: int = 0  # frames the catalog had already (a second run on the same video)
    model_id: int | None = None
    by_label: dict[str, int] = field(default_factory=dict)


class CatalogCapture:
    def __init__(self, catalog: Catalog, ens: Ensemble, settings: ExtractSettings, name: str, path: str | None,
                 interval_s: float = 2.0, params: dict | None = None):
        self.catalog, self.ens, self.settings, self.interval_s = catalog, ens, settings, interval_s
        source_id, _ = catalog.find_or_add_source(NewSource(
            kind="video", name=name, path=path,
            params={"model": ens.name, "models": [str(c.path) for c in ens.cards], "interval_s": interval_s,
                    **(params or {})}))
        self.summary = CaptureSummary(name, source_id)
        self.name = name
        self._last: dict[int, float] = {}  # track id -> time of its last capture
        self._pending: list[tuple[NewImage, list[tuple[NewFace, np.ndarray]]]] = []
        self.summary.model_id = model_id(catalog, ens.cards[0]) if ens.single else None

    def offer(self, frame: Frame) -> None:
        """Keep this frame's detected faces that are due (each track once per interval)."""
        due = [tr for tr in frame.faces if tr.detected
               and frame.time_s - self._last.get(tr.id, -float("inf")) >= self.interval_s]
        if not due:
            return
        ok, jpeg = cv2.imencode(".jpg", frame.bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if not ok:
            return
        data = jpeg.tobytes()
        sha, rel = self.catalog.blobs.put_bytes(data, "JPEG")
        h, w = frame.bgr.shape[:2]
        # A file's frame by its time in the video (a media fragment); a camera's by the wall clock.
        when = f"@{frame.wall.isoformat(timespec='milliseconds')}" if frame.wall else f"#t={frame.time_s:.3f}"
        title = f"{self.name}, frame {frame.index} at {frame.time_s:.3f} s" + (
            f" ({frame.wall.isoformat(timespec='milliseconds')})" if frame.wall else "")
        image = NewImage(sha256=sha, blob_path=rel, width=w, height=h, format="JPEG", source_id=self.summary.source_id,
                         title=title, dataset_path=f"{self.name}{when}", rank=frame.index)
        faces = []
        s = self.settings
        for tr in due:
            self._last[tr.id] = frame.time_s
            png, phash, pixel_sha = encode_crop(tr.face.crop, s.size)
            label = self.ens.classes[int(tr.probabilities.argmax())]
            faces.append((NewFace(bbox=tr.bbox, crop_png=png, crop_size=s.size, phash=phash, pixel_sha256=pixel_sha,
                                  detector=s.detector, score=tr.face.score, landmarks=tr.face.landmarks,
                                  settings=s.as_dict(), suggested_label=label,
                                  dataset_path=f"{self.name}{when}&face={tr.id}"), tr.probabilities))
        self._pending.append((image, faces))
        if len(self._pending) >= BATCH_FRAMES:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        refs = self.catalog.add_images([im for im, _ in pending])
        results = [ExtractionResult(ref.id, ExtractionState.FACES, [f for f, _ in faces])
                   for ref, (_, faces) in zip(refs, pending)]
        saved = self.catalog.save_extractions(results)
        predictions = []
        for (_, faces), done in zip(pending, saved):
            if done.extracted_elsewhere:
                self.summary.already += 1
                continue
            self.summary.frames += 1
            self.summary.faces += len(done.face_ids)
            for fid, (face, probs) in zip(done.face_ids, faces):
                self.summary.by_label[face.suggested_label] = self.summary.by_label.get(face.suggested_label, 0) + 1
                predictions.append(NewPrediction(fid, {k: float(v) for k, v in zip(self.ens.classes, probs)}))
        if predictions and self.summary.model_id is not None:
            self.catalog.store_predictions(self.summary.model_id, predictions)

    def close(self) -> CaptureSummary:
        self.flush()
        return self.summary
