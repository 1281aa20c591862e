"""The catalog's tables (SQLAlchemy Core).

The migrations in db/migrations/versions create exactly these tables; tests/db/test_migrations.py
checks that the two never drift apart. Core tables, not ORM classes: facecat reads and writes
through statements only, and the ORM's declarative mapping took ~170 ms of every command's start
(the labeler's first screen included).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlalchemy.dialects.postgresql import JSONB


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


metadata = MetaData()


def _id() -> Column:
    return Column("id", Integer, primary_key=True)


def _created_at() -> Column:
    return Column("created_at", DateTime(timezone=True), nullable=False, default=utcnow)


sources = Table(
    "sources", metadata,
    _id(),
    Column("kind", String(32), nullable=False),
    Column("name", String(512), nullable=False, index=True),
    Column("engine", String(64)),
    Column("query", Text),
    Column("path", Text),
    Column("license_note", Text),
    Column("params", JSON, nullable=False, default=dict),
    _created_at(),
)

images = Table(
    "images", metadata,
    _id(),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("blob_path", String(255), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("format", String(16), nullable=False),
    Column("source_id", ForeignKey("sources.id"), nullable=False, index=True),
    Column("url", Text),
    Column("page_url", Text),
    Column("title", Text),
    Column("query", Text, index=True),
    Column("rank", Integer),
    Column("fetched_at", DateTime(timezone=True)),
    Column("http_status", Integer),
    Column("content_type", String(128)),
    Column("dataset_path", Text),
    Column("label", String(64)),
    Column("suggested_label", String(64)),
    Column("split_hint", String(32)),
    Column("extraction_state", String(16), nullable=False, default="pending", index=True),
    Column("extraction_error", Text),
    _created_at(),
)

faces = Table(
    "faces", metadata,
    _id(),
    Column("image_id", ForeignKey("images.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("bbox_left", Integer, nullable=False),
    Column("bbox_top", Integer, nullable=False),
    Column("bbox_width", Integer, nullable=False),
    Column("bbox_height", Integer, nullable=False),
    Column("landmarks", JSON),
    Column("detector", String(16), nullable=False),
    Column("score", Float),
    Column("crop_size", Integer, nullable=False),
    Column("crop_png", LargeBinary, nullable=False),  # named in the statements that need it, never in a page
    Column("phash", String(32), nullable=False, index=True),
    Column("pixel_sha256", String(64), nullable=False, index=True),
    Column("dup_group", Integer, index=True),
    Column("settings", JSON, nullable=False, default=dict),
    _created_at(),
    # Added by 0003. Where this face came from (filled from its image when not given): byte-identical
    # files share one image row, but each file is a face with its own source, label and origin.
    Column("source_id", ForeignKey("sources.id", name="fk_faces_source_id")),
    Column("dataset_path", Text),
    # Added by 0006: the side of crop_png when it is smaller than crop_size (a dataset's pre-cropped
    # face kept at its own size, e.g. FER2013's 48); NULL: crop_png is crop_size x crop_size.
    # Readers resize with db.pixels.crop_pixels.
    Column("stored_size", Integer),
    # Added by 0004 (replacing 0003's index on source_id alone): an import asks which files of its
    # source are faces already, by dataset path, on every batch.
    Index("ix_faces_source_id_dataset_path", "source_id", "dataset_path"),
)

# The annotation of one face; `version` guards against lost updates.
annotations = Table(
    "annotations", metadata,
    Column("face_id", ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    Column("label", String(64)),
    Column("status", String(16), nullable=False, default="unreviewed"),
    Column("suggested_label", String(64)),
    Column("split_hint", String(32)),
    Column("annotator", String(128)),
    Column("updated_at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("version", Integer, nullable=False, default=1),
    Index("ix_annotations_status_label", "status", "label"),
)

# Append-only audit of every change to an annotation.
label_events = Table(
    "label_events", metadata,
    _id(),
    Column("face_id", ForeignKey("faces.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("annotator", String(128), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, default=utcnow),
    Column("from_label", String(64)),
    Column("to_label", String(64)),
    Column("from_status", String(16), nullable=False),
    Column("to_status", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    # Added by 0005: the context of the decision. `via` names the tool ("labeler", "demo", ...);
    # model_id / predicted_* the model prediction a person saw when deciding (None: none shown).
    Column("via", String(32)),
    Column("model_id", ForeignKey("models.id", ondelete="SET NULL", name="fk_label_events_model_id")),
    Column("predicted_label", String(64)),
    Column("predicted_confidence", Float),
)

# The label taxonomy.
classes = Table(
    "classes", metadata,
    Column("name", String(64), primary_key=True),
    Column("key", String(8), nullable=False),
    Column("emoji", String(16), nullable=False),
    Column("position", Integer, nullable=False),
)

# A face shown to one annotator's app in the unreviewed queue (added by 0005). Other apps skip it
# until the claim expires or is released; a claim never blocks a decision.
face_claims = Table(
    "face_claims", metadata,
    Column("face_id", ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
    Column("holder", String(64), nullable=False, index=True),  # one running app (a random id)
    Column("annotator", String(128)),
    Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
)

# --- added by migration 0002 -------------------------------------------------------------------

# The outcome of one URL (ok or why not); a failed URL is never an image row.
downloads = Table(
    "downloads", metadata,
    _id(),
    Column("source_id", ForeignKey("sources.id"), nullable=False, index=True),
    Column("url", Text, nullable=False),
    Column("url_sha256", String(64), nullable=False, index=True),
    Column("page_url", Text),
    Column("query", Text),
    Column("rank", Integer),
    Column("status", String(32), nullable=False, index=True),
    Column("http_status", Integer),
    Column("content_type", String(128)),
    Column("detail", Text),
    Column("image_id", ForeignKey("images.id", ondelete="SET NULL")),
    Column("attempted_at", DateTime(timezone=True), nullable=False, default=utcnow),
)

models = Table(
    "models", metadata,
    _id(),
    Column("name", String(255), nullable=False),
    Column("path", Text, nullable=False),
    Column("classes", JSON, nullable=False),
    Column("params", JSON, nullable=False, default=dict),
    Column("metrics", JSON, nullable=False, default=dict),
    _created_at(),
    # Added by 0005: "model" (one trained model) or "cross-val" (K fold models; its predictions are
    # every face's out-of-fold probabilities).
    Column("kind", String(16), nullable=False, default="model", server_default="model"),
)

predictions = Table(
    "predictions", metadata,
    _id(),
    Column("model_id", ForeignKey("models.id", ondelete="CASCADE"), nullable=False),
    Column("face_id", ForeignKey("faces.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("label", String(64), nullable=False),
    Column("confidence", Float, nullable=False),
    # jsonb on PostgreSQL (0008): the model orders read one class's probability per row.
    Column("probabilities", JSON().with_variant(JSONB(), "postgresql"), nullable=False, default=dict),
    _created_at(),
    # Added by 0005. second_confidence: the runner-up's probability (for the normalized margin).
    # in_sample: the model trained on this face (or its duplicate group): not an out-of-sample guess.
    # issue: confident learning flagged the face's label as likely wrong.
    Column("second_confidence", Float),
    Column("in_sample", Boolean, nullable=False, default=False, server_default=sa_false()),
    Column("issue", Boolean, nullable=False, default=False, server_default=sa_false()),
    # Added by 0009, written by its triggers only (they follow the face's own label): the
    # probability of the face's own label, and the normalized margin; what the labeler ranks by.
    Column("self_confidence", Float),
    Column("margin", Float),
    # Added by 0010, written by the same triggers: the model's class is not the face's own label.
    Column("disagrees", Boolean, nullable=False, default=False, server_default=sa_false()),
    UniqueConstraint("model_id", "face_id", name="uq_predictions_model_face"),
    Index("ix_predictions_model_confidence", "model_id", "confidence", "face_id"),
    Index("ix_predictions_model_self_confidence", "model_id", "self_confidence", "face_id"),
    Index("ix_predictions_model_margin", "model_id", "margin", "face_id"),
    Index("ix_predictions_model_disagrees", "model_id", "disagrees", "face_id"),
)

exports = Table(
    "exports", metadata,
    _id(),
    Column("path", Text, nullable=False),
    Column("format", String(16), nullable=False),
    Column("filters", JSON, nullable=False, default=dict),
    Column("counts", JSON, nullable=False, default=dict),
    Column("manifest_sha256", String(64), nullable=False),
    _created_at(),
)

# A model's explanation of one face (added by 0007): the PNG a person sees (a Grad-CAM heat map
# over the face) and the class it explains; written by `train explain`, shown by the labeler.
face_explanations = Table(
    "face_explanations", metadata,
    Column("model_id", ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
    Column("face_id", ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("label", String(64), nullable=False),
    Column("method", String(32), nullable=False),  # "grad-cam"
    Column("png", LargeBinary, nullable=False),
    _created_at(),
)
