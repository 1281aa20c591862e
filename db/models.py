"""SQLAlchemy 2.0 ORM models of the catalog.

The migrations in db/migrations/versions create exactly these tables; tests/test_catalog_migrations.py
checks that the two never drift apart.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(512), index=True)
    engine: Mapped[str | None] = mapped_column(String(64))
    query: Mapped[str | None] = mapped_column(Text)
    path: Mapped[str | None] = mapped_column(Text)
    license_note: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Image(Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    blob_path: Mapped[str] = mapped_column(String(255))
    width: Mapped[int]
    height: Mapped[int]
    format: Mapped[str] = mapped_column(String(16))
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str | None] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text, index=True)
    rank: Mapped[int | None]
    fetched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    http_status: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(128))
    dataset_path: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(String(64))
    suggested_label: Mapped[str | None] = mapped_column(String(64))
    split_hint: Mapped[str | None] = mapped_column(String(32))
    extraction_state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    extraction_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Face(Base):
    __tablename__ = "faces"
    # Added by 0004 (replacing 0003's index on source_id alone): an import asks which files of its
    # source are faces already, by dataset path, on every batch.
    __table_args__ = (Index("ix_faces_source_id_dataset_path", "source_id", "dataset_path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    bbox_left: Mapped[int]
    bbox_top: Mapped[int]
    bbox_width: Mapped[int]
    bbox_height: Mapped[int]
    landmarks: Mapped[list[Any] | None] = mapped_column(JSON)
    detector: Mapped[str] = mapped_column(String(16))
    score: Mapped[float | None] = mapped_column(Float)
    crop_size: Mapped[int]
    # Deferred: a page of faces never drags its PNG bytes along unless asked.
    crop_png: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    phash: Mapped[str] = mapped_column(String(32), index=True)
    pixel_sha256: Mapped[str] = mapped_column(String(64), index=True)
    dup_group: Mapped[int | None] = mapped_column(index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Added by 0003. Where this face came from (filled from its image when not given): byte-identical
    # files share one image row, but each file is a face with its own source, label and origin.
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", name="fk_faces_source_id"))
    dataset_path: Mapped[str | None] = mapped_column(Text)
    # Added by 0006: the side of crop_png when it is smaller than crop_size (a dataset's pre-cropped
    # face kept at its own size, e.g. FER2013's 48); NULL: crop_png is crop_size x crop_size.
    # Readers resize with db.pixels.crop_pixels.
    stored_size: Mapped[int | None]


class Annotation(Base):
    """The annotation of one face; `version` guards against lost updates."""

    __tablename__ = "annotations"

    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="unreviewed")
    suggested_label: Mapped[str | None] = mapped_column(String(64))
    split_hint: Mapped[str | None] = mapped_column(String(32))
    annotator: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    __table_args__ = (Index("ix_annotations_status_label", "status", "label"),)


class LabelEvent(Base):
    """Append-only audit of every change to an annotation."""

    __tablename__ = "label_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    annotator: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    from_label: Mapped[str | None] = mapped_column(String(64))
    to_label: Mapped[str | None] = mapped_column(String(64))
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    version: Mapped[int]
    # Added by 0005: the context of the decision. `via` names the tool ("labeler", "demo", ...);
    # model_id / predicted_* the model prediction a person saw when deciding (None: none shown).
    via: Mapped[str | None] = mapped_column(String(32))
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("models.id", ondelete="SET NULL", name="fk_label_events_model_id"))
    predicted_label: Mapped[str | None] = mapped_column(String(64))
    predicted_confidence: Mapped[float | None] = mapped_column(Float)


class ClassDef(Base):
    """The label taxonomy."""

    __tablename__ = "classes"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(8))
    emoji: Mapped[str] = mapped_column(String(16))
    position: Mapped[int]


class FaceClaim(Base):
    """A face shown to one annotator's app in the unreviewed queue (added by 0005). Other apps skip
    it until the claim expires or is released; a claim never blocks a decision."""

    __tablename__ = "face_claims"

    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64), index=True)  # one running app (a random id)
    annotator: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


# --- added by migration 0002 -------------------------------------------------------------------


class Download(Base):
    """The outcome of one URL (ok or why not); a failed URL is never an image row."""

    __tablename__ = "downloads"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    url: Mapped[str] = mapped_column(Text)
    url_sha256: Mapped[str] = mapped_column(String(64), index=True)
    page_url: Mapped[str | None] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text)
    rank: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(32), index=True)
    http_status: Mapped[int | None]
    content_type: Mapped[str | None] = mapped_column(String(128))
    detail: Mapped[str | None] = mapped_column(Text)
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id", ondelete="SET NULL"))
    attempted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    path: Mapped[str] = mapped_column(Text)
    classes: Mapped[list[Any]] = mapped_column(JSON)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Added by 0005: "model" (one trained model) or "cross-val" (K fold models; its predictions are
    # every face's out-of-fold probabilities).
    kind: Mapped[str] = mapped_column(String(16), default="model", server_default="model")


class Prediction(Base):
    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"))
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    # jsonb on PostgreSQL (0008): the model orders read one class's probability per row.
    probabilities: Mapped[dict[str, Any]] = mapped_column(JSON().with_variant(JSONB(), "postgresql"), default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Added by 0005. second_confidence: the runner-up's probability (for the normalized margin).
    # in_sample: the model trained on this face (or its duplicate group): not an out-of-sample guess.
    # issue: confident learning flagged the face's label as likely wrong.
    second_confidence: Mapped[float | None] = mapped_column(Float)
    in_sample: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    issue: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    # Added by 0009, written by its triggers only (they follow the face's own label): the
    # probability of the face's own label, and the normalized margin; what the labeler ranks by.
    self_confidence: Mapped[float | None] = mapped_column(Float)
    margin: Mapped[float | None] = mapped_column(Float)
    # Added by 0010, written by the same triggers: the model's class is not the face's own label.
    disagrees: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    __table_args__ = (
        UniqueConstraint("model_id", "face_id", name="uq_predictions_model_face"),
        Index("ix_predictions_model_confidence", "model_id", "confidence", "face_id"),
        Index("ix_predictions_model_self_confidence", "model_id", "self_confidence", "face_id"),
        Index("ix_predictions_model_margin", "model_id", "margin", "face_id"),
        Index("ix_predictions_model_disagrees", "model_id", "disagrees", "face_id"),
    )


class Export(Base):
    __tablename__ = "exports"

    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    filters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manifest_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class FaceExplanation(Base):
    """A model's explanation of one face (added by 0007): the PNG a person sees (a Grad-CAM heat map
    over the face) and the class it explains; written by `train explain`, shown by the labeler."""

    __tablename__ = "face_explanations"

    model_id: Mapped[int] = mapped_column(ForeignKey("models.id", ondelete="CASCADE"), primary_key=True)
    face_id: Mapped[int] = mapped_column(ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, index=True)
    label: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))  # "grad-cam"
    png: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
