"""Explanations: a model's Grad-CAM map of a face (`train explain`), stored as the PNG a person sees
(the heat map over the face) with the class it explains, one per model and face, so that the
labeler (which imports no TensorFlow) can show it.

Revision ID: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_explanations",
        sa.Column("model_id", sa.Integer, sa.ForeignKey("models.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("face_id", sa.Integer, sa.ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("png", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_face_explanations_face_id", "face_explanations", ["face_id"])


def downgrade() -> None:
    op.drop_index("ix_face_explanations_face_id", table_name="face_explanations")
    op.drop_table("face_explanations")
