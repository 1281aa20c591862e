"""The first catalog: sources, images, faces, annotations, audit, classes.

Revision ID: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("engine", sa.String(64)),
        sa.Column("query", sa.Text),
        sa.Column("path", sa.Text),
        sa.Column("license_note", sa.Text),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_sources_name", "sources", ["name"])
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("blob_path", sa.String(255), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("url", sa.Text),
        sa.Column("page_url", sa.Text),
        sa.Column("title", sa.Text),
        sa.Column("query", sa.Text),
        sa.Column("rank", sa.Integer),
        sa.Column("fetched_at", TS),
        sa.Column("http_status", sa.Integer),
        sa.Column("content_type", sa.String(128)),
        sa.Column("dataset_path", sa.Text),
        sa.Column("label", sa.String(64)),
        sa.Column("suggested_label", sa.String(64)),
        sa.Column("split_hint", sa.String(32)),
        sa.Column("extraction_state", sa.String(16), nullable=False),
        sa.Column("extraction_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_images_source_id", "images", ["source_id"])
    op.create_index("ix_images_query", "images", ["query"])
    op.create_index("ix_images_extraction_state", "images", ["extraction_state"])
    op.create_table(
        "faces",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("bbox_left", sa.Integer, nullable=False),
        sa.Column("bbox_top", sa.Integer, nullable=False),
        sa.Column("bbox_width", sa.Integer, nullable=False),
        sa.Column("bbox_height", sa.Integer, nullable=False),
        sa.Column("landmarks", sa.JSON),
        sa.Column("detector", sa.String(16), nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("crop_size", sa.Integer, nullable=False),
        sa.Column("crop_png", sa.LargeBinary, nullable=False),
        sa.Column("phash", sa.String(32), nullable=False),
        sa.Column("pixel_sha256", sa.String(64), nullable=False),
        sa.Column("dup_group", sa.Integer),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_faces_image_id", "faces", ["image_id"])
    op.create_index("ix_faces_phash", "faces", ["phash"])
    op.create_index("ix_faces_pixel_sha256", "faces", ["pixel_sha256"])
    op.create_index("ix_faces_dup_group", "faces", ["dup_group"])
    op.create_table(
        "annotations",
        sa.Column(
            "face_id",
            sa.Integer,
            sa.ForeignKey("faces.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(64)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("suggested_label", sa.String(64)),
        sa.Column("split_hint", sa.String(32)),
        sa.Column("annotator", sa.String(128)),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_annotations_status_label", "annotations", ["status", "label"])
    op.create_table(
        "label_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "face_id", sa.Integer, sa.ForeignKey("faces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("annotator", sa.String(128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("from_label", sa.String(64)),
        sa.Column("to_label", sa.String(64)),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("to_status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_label_events_face_id", "label_events", ["face_id"])
    op.create_table(
        "classes",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(8), nullable=False),
        sa.Column("emoji", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    for table in ("classes", "label_events", "annotations", "faces", "images", "sources"):
        op.drop_table(table)
