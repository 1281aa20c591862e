"""Plain data types that cross from the stages into the catalog and back.

The stages (scraper, curation, labeler, training) never see rows or SQLAlchemy objects: they hand the catalog
these dataclasses and get these dataclasses back.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave this field as it is" (annotate, FaceDecision)


class ExtractionState(str, enum.Enum):
    """Where an image stands in face extraction."""

    PENDING = "pending"  # not extracted yet
    FACES = "faces"  # one or more faces found
    NO_FACE = "no_face"  # decoded, no face found
    UNREADABLE = "unreadable"  # could not be decoded; the reason is kept on the image
    REJECTED = "rejected"  # no face found, and a person rejected the image (the labeler); restorable


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


@dataclass(frozen=True, slots=True)  # many are held at once (the labeler's row cache)
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


@dataclass(frozen=True, slots=True)  # many are held at once (the labeler's row cache)
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


# --- review (the labeler): lists of faces in an order, claims, decisions in bulk, changes -----------


class Order(str, enum.Enum):
    """How a list of faces is ordered (see Catalog.review_ids). Model orders put faces without a
    prediction (or whose label the model does not know) last; ties go by face id."""

    CATALOG = "catalog"  # face id
    LEAST_CONFIDENCE = "least_confidence"  # the model's top probability, lowest first
    SELF_CONFIDENCE = "self_confidence"  # likely mislabeled first: the probability of the face's own label
    MARGIN = "margin"  # likely mislabeled first: normalized margin (own label vs the best other class)
    DUPLICATES = "duplicates"  # duplicate groups together, at their first member; catalog order otherwise


MODEL_ORDERS = (Order.LEAST_CONFIDENCE, Order.SELF_CONFIDENCE, Order.MARGIN)


class Duplicates(str, enum.Enum):
    GROUPED = "grouped"  # in a duplicate group
    CONFLICT = "conflict"  # in a group whose faces (not deleted) carry different labels


@dataclass(frozen=True)
class ReviewFilter:
    """Which faces a review list holds; every field left None (or False) matches everything.

    A face's "own label" is its label, else its suggested label (what Enter would confirm): the
    model filters and orders compare the prediction with it. A None inside labels, suggested or
    split_hints matches faces without one.
    """

    statuses: tuple[str, ...] | None = None  # Status values; None: every status but deleted
    labels: tuple[str | None, ...] | None = None
    suggested: tuple[str | None, ...] | None = None
    sources: tuple[str, ...] | None = None  # source names
    queries: tuple[str, ...] | None = None  # scrape queries
    split_hints: tuple[str | None, ...] | None = None
    duplicates: Duplicates | None = None
    model_id: int | None = None  # the model the next two fields and the model orders read
    model_disagrees: bool = False  # the model's most probable class is not the face's own label
    model_flagged: bool = False  # confident learning flagged the face's label (prediction.issue)
    # The unreviewed queue of one app: leave out unreviewed faces that another holder has a live claim on.
    skip_claimed_by_others: str | None = None


@dataclass(frozen=True)
class ReviewCounts:
    """A review list's totals: how many faces, how many reviewed (not unreviewed), per label."""

    faces: int
    reviewed: int
    by_status: dict[str, int]
    by_label: dict[str | None, int]  # label (None: no label yet) -> faces


@dataclass(frozen=True)
class FaceDecision:
    """One face's change in Catalog.annotate_many: set its label and/or status if it is still at
    expected_version; a field left UNSET keeps the face's own."""

    face_id: int
    expected_version: int
    label: Any = UNSET  # a class name, None (no label), or UNSET
    status: Any = UNSET  # a Status (or its value), or UNSET
    context: DecisionContext | None = None


@dataclass(frozen=True)
class FaceConflict:
    """A decision refused because the face changed since the version it was based on: who changed
    it last, when, and what it is now (actual_version None: the face no longer exists)."""

    face_id: int
    expected_version: int
    actual_version: int | None
    annotator: str | None = None
    at: datetime | None = None
    label: str | None = None
    status: str | None = None
    suggested_label: str | None = None


@dataclass(frozen=True)
class BulkResult:
    applied: dict[int, int]  # face id -> its new version
    conflicts: list[FaceConflict]


@dataclass(frozen=True)
class ClaimResult:
    granted: list[int]  # faces this holder now claims (new or renewed)
    held_by_others: dict[int, str | None]  # face id -> the annotator of another holder's live claim


@dataclass(frozen=True)
class Changes:
    """What changed in the catalog after the marks given (see Catalog.changes_since)."""

    event_id: int  # the newest label event seen: pass it back next time
    face_id: int  # the newest face id seen
    changed: dict[int, int]  # face id -> its newest version among the events
    new_faces: list[int]  # faces added after the face id given


@dataclass(frozen=True, slots=True)  # many are held at once (the labeler's row cache)
class ImageRow:
    """An image as the labeler shows one where no face was found."""

    id: int
    blob_path: str
    width: int
    height: int
    format: str
    source_name: str
    url: str | None
    page_url: str | None
    query: str | None
    dataset_path: str | None
    extraction_state: str


@dataclass(frozen=True)
class ReviewProgress:
    annotator: str
    day: str  # YYYY-MM-DD
    decisions: int  # label events that day


# --- explanations (`train explain`; the labeler shows them) -------------------------------------------


@dataclass(frozen=True)
class NewExplanation:
    """A model's explanation of one face: the picture a person sees and the class it explains."""

    face_id: int
    label: str
    png: bytes  # the face with the map over it
    method: str = "grad-cam"


@dataclass(frozen=True)
class ExplanationRow:
    model_id: int
    face_id: int
    label: str
    method: str
    png: bytes
    created_at: datetime


# --- the model in the loop: what review changed (train fit records it in model.json) ------------


@dataclass(frozen=True)
class ReviewSummary:
    """What people did to a set of faces, from their annotations and the audit (label events).

    reviewed: faces confirmed or marked uncertain. relabeled: label changes of a face that had a
    label (a first label is not a change). after_suggestion: decisions made while a model's
    prediction was shown (the event's model_id); of them, changed_after_suggestion changed the label,
    to_model_class of those to the class the model predicted. changes: "from->to" -> count, of the
    label changes after a suggestion.
    """

    faces: int
    by_status: dict[str, int]
    reviewed: int
    relabeled: int
    after_suggestion: int
    changed_after_suggestion: int
    to_model_class: int
    changes: dict[str, int]
    by_model: dict[int, int]  # model id -> decisions after its suggestion

    def as_dict(self) -> dict:
        return {"faces": self.faces, "by_status": dict(self.by_status), "reviewed": self.reviewed,
                "relabeled": self.relabeled, "after_suggestion": self.after_suggestion,
                "changed_after_suggestion": self.changed_after_suggestion, "to_model_class": self.to_model_class,
                "changes": dict(self.changes), "by_model": {str(k): v for k, v in self.by_model.items()}}
