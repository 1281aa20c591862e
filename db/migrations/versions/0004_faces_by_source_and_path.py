"""Faces looked up by source and dataset path: an import asks, on every batch, which files of its
source are faces already (two imports of one dataset at once must not add a face twice). The
composite index also serves 0003's lookups by source alone, so it replaces that index.

Revision ID: 0004
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_faces_source_id_dataset_path", "faces", ["source_id", "dataset_path"])
    op.drop_index("ix_faces_source_id", table_name="faces")


def downgrade() -> None:
    op.create_index("ix_faces_source_id", "faces", ["source_id"])
    op.drop_index("ix_faces_source_id_dataset_path", table_name="faces")
