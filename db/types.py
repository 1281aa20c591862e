"""Plain data types that cross from the stages into the catalog and back.

The stages (scraper, curation, labeler, training) never see ORM objects: they hand the catalog
these dataclasses and get these dataclasses back.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class ExtractionState(str, enum.Enum):
    """Where an image stands in face extraction."""

    PENDING = "pending"  # not extracted yet
    FACES = "faces"  # one or more faces found
    NO_FACE = "no_face"  # decoded, no face found
    UNREADABLE = "unreadable"  # could not be decoded; the reason is kept on the image


class Status(str, enum.Enum):
    """Whether a person reviewed a face in this catalog."""

    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"
    DELETED = "deleted"
    UNCERTAIN = "uncertain"


class DownloadStatus(str, enum.Enum):
    """Outcome of one URL, in the manner of img2dataset's per-item status."""

    OK = "ok"
    DUPLICATE = "duplicate"  # bytes already in the catalog under another URL
    NOT_IMAGE = "not_image"  # body did not decode as a supported image
    TOO_LARGE = "too_large"  # body or pixel count over the cap
    HTTP_ERROR = "http_error"  # non-2xx answer (code kept in http_status)
    TIMEOUT = "timeout"
    REFUSED_SCHEME = "refused_scheme"  # not http(s)
    NETWORK_ERROR = "network_error"  # DNS, refused connection, redirect loop, reset


# Selections that every stage names (see README "Meanings").
SELECTION_LABELED = "labeled"  # has a label and is not deleted
SELECTION_CONFIRMED = "confirmed"  # reviewed and kept


@dataclass(frozen=True)
class NewSource:
    """A scrape run or an imported dataset."""

    kind: str  # "scrape" or "dataset"
    name: str  # e.g. "bing: angry human face" or "fer2013"
    engine: str | None = None
    query: str | None = None
    path: str | None = None  # dataset path or file
    license_note: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceInfo:
    id: int
    kind: str
    name: str
    engine: str | None
    query: str | None
    path: str | None
    license_note: str | None
    params: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class NewImage:
    """A valid image whose bytes are already in the blob store (see Catalog.blobs)."""

    sha256: str
    blob_path: str  # relative to the store root, e.g. "images/ab/abcd....jpg"
    width: int
    height: int
    format: str  # Pillow format name: JPEG, PNG, WEBP, GIF, BMP, TIFF
    source_id: int
    url: str | None = None
    page_url: str | None = None
    title: str | None = None
    query: str | None = None
    rank: int | None = None
    fetched_at: datetime | None = None
    http_status: int | None = None
    content_type: str | None = None
    dataset_path: str | None = None  # the file inside an imported dataset
    # Hints carried to the faces extracted from this image:
    label: str | None = None  # a dataset's label (JAFFE file name, class folder)
    suggested_label: str | None = None  # e.g. inferred from a scrape query
    split_hint: str | None = None  # e.g. FER2013's Usage


@dataclass(frozen=True)
class ImageRef:
    id: int
    sha256: str
    created: bool  # False: the sha256 was already in the catalog, id is the existing image


@dataclass(frozen=True)
class DownloadRecord:
    """What happened to one URL of a scrape run."""

    source_id: int
    url: str
    status: DownloadStatus
    page_url: str | None = None
    query: str | None = None
    rank: int | None = None
    http_status: int | None = None
    content_type: str | None = None
    detail: str | None = None  # the reason, for anything but ok
    image_id: int | None = None  # the image it gave (ok) or duplicated (duplicate)


@dataclass(frozen=True)
class QueryImage:
    """An image a scrape query found (see Catalog.query_images)."""

    id: int
    sha256: str
    blob_path: str
    rank: int | None


@dataclass(frozen=True)
class ImageTask:
    """An image waiting for face extraction."""

    id: int
    sha256: str
    blob_path: str
    width: int
    height: int
    label: str | None
    suggested_label: str | None
    split_hint: str | None


@dataclass(frozen=True)
class NewFace:
    """A face crop ready to store. bbox is (left, top, width, height) in original image pixels.

    crop_size is the face's size in the catalog (what phash and pixel_sha256 describe); crop_png
    may be smaller (stored_size: a pre-cropped face kept at its own size; see db.pixels)."""

    bbox: tuple[int, int, int, int]
    crop_png: bytes
    crop_size: int
    phash: str  # hex perceptual hash of the crop
    pixel_sha256: str  # sha256 of the crop's raw grayscale pixels: exact duplicates
    detector: str = "none"  # "hog", "cnn" or "none" (pre-cropped dataset)
    score: float | None = None
    landmarks: list[tuple[float, float]] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    label: str | None = None
    suggested_label: str | None = None
    split_hint: str | None = None
    status: Status = Status.UNREVIEWED
    # Provenance, when it differs from the image's (a second file with the same bytes):
    source_id: int | None = None
    dataset_path: str | None = None
    stored_size: int | None = None  # crop_png's side when smaller than crop_size (None: crop_size)


@dataclass(frozen=True)
class ExtractionResult:
    """What extraction learnt about one image: its new state, its faces, why it is unreadable."""

    image_id: int
    state: ExtractionState
    faces: list[NewFace]
    error: str | None = None


@dataclass(frozen=True)
class FaceFilter:
    """Which faces to select. Every field left None matches everything.

    selection: "labeled" (has a label and not deleted), "confirmed" (reviewed and kept),
    or one Status value, or None for every face that is not deleted.
    """

    selection: str | None = None
    labels: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None  # source names
    source_kinds: tuple[str, ...] | None = None
    queries: tuple[str, ...] | None = None
    include_deleted: bool = False
    unlabeled_only: bool = False
    image_id: int | None = None


@dataclass(frozen=True)
class FaceRow:
    """A face with its annotation and provenance, as a stage reads it."""

    id: int
    image_id: int
    source_id: int
    source_name: str
    source_kind: str
    bbox: tuple[int, int, int, int]
    detector: str
    score: float | None
    crop_size: int
    phash: str
    pixel_sha256: str
    dup_group: int | None
    label: str | None
    status: Status
    suggested_label: str | None
    split_hint: str | None
    annotator: str | None
    version: int
    url: str | None
    dataset_path: str | None
    query: str | None
    crop_png: bytes | None = None  # only when asked for (with_crops=True)
    # The side of crop_png: crop_size, or less for a pre-cropped face kept at its own size. Decode a
    # crop at the size you need with db.pixels.crop_pixels(crop_png, size).
    stored_size: int = 0


@dataclass(frozen=True)
class ClassInfo:
    name: str
    key: str
    emoji: str
    position: int


@dataclass(frozen=True)
class LabelEvent:
    id: int
    face_id: int
    annotator: str
    at: datetime
    from_label: str | None
    to_label: str | None
    from_status: str
    to_status: str
    version: int
    via: str | None = None  # the tool that made the change ("labeler", "demo", ...)
    model_id: int | None = None  # the model whose prediction was shown when the person decided
    predicted_label: str | None = None
    predicted_confidence: float | None = None


@dataclass(frozen=True)
class DecisionContext:
    """What surrounded a change, for the audit: the tool, and the model prediction a person saw."""

    via: str | None = None
    model_id: int | None = None
    predicted_label: str | None = None
    predicted_confidence: float | None = None


@dataclass(frozen=True)
class NewModel:
    """A trained model (or a cross-validation run) to register in the catalog."""

    name: str  # e.g. the model directory's name
    path: str  # absolute path of the model directory
    classes: list[str]  # in the model's output order
    kind: str = "model"  # "model", or "cross-val" (K fold models; out-of-fold predictions)
    params: dict[str, Any] = field(default_factory=dict)  # arch, hyper-parameters, selection, hashes
    metrics: dict[str, Any] = field(default_factory=dict)  # per-split metrics


@dataclass(frozen=True)
class ModelInfo:
    id: int
    name: str
    path: str
    classes: list[str]
    kind: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class NewPrediction:
    """A model's class probabilities for one face (every class of the model)."""

    face_id: int
    probabilities: dict[str, float]
    in_sample: bool = False  # the model trained on this face (or its duplicate group)


@dataclass(frozen=True)
class PredictionRow:
    model_id: int
    face_id: int
    label: str  # the most probable class
    confidence: float  # its probability
    second_confidence: float | None  # the runner-up's probability
    probabilities: dict[str, float]
    in_sample: bool
    issue: bool  # confident learning flagged this face's label
    created_at: datetime
