"""Download outcomes, trained models and their predictions, export records.

Revision ID: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "downloads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("source_id", sa.Integer, sa.ForeignKey("sources.id"), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("url_sha256", sa.String(64), nullable=False),
        sa.Column("page_url", sa.Text),
        sa.Column("query", sa.Text),
        sa.Column("rank", sa.Integer),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("http_status", sa.Integer),
        sa.Column("content_type", sa.String(128)),
        sa.Column("detail", sa.Text),
        sa.Column("image_id", sa.Integer, sa.ForeignKey("images.id", ondelete="SET NULL")),
        sa.Column("attempted_at", TS, nullable=False),
    )
    op.create_index("ix_downloads_source_id", "downloads", ["source_id"])
    op.create_index("ix_downloads_url_sha256", "downloads", ["url_sha256"])
    op.create_index("ix_downloads_status", "downloads", ["status"])
    op.create_table(
        "models",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("classes", sa.JSON, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "face_id", sa.Integer, sa.ForeignKey("faces.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        sa.Column("probabilities", sa.JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.UniqueConstraint("model_id", "face_id", name="uq_predictions_model_face"),
    )
    op.create_index("ix_predictions_face_id", "predictions", ["face_id"])
    op.create_table(
        "exports",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("filters", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("exports", "predictions", "models", "downloads"):
        op.drop_table(table)
