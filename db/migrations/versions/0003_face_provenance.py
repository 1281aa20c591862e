"""Per-face provenance: a face may come from another source or file than its image's first one
(byte-identical files in one dataset, or the same picture in two datasets, each with its own label).
Existing faces take their image's source and file.

Revision ID: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.add_column(sa.Column("source_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("dataset_path", sa.Text, nullable=True))
        batch.create_foreign_key("fk_faces_source_id", "sources", ["source_id"], ["id"])
        batch.create_index("ix_faces_source_id", ["source_id"])
    # Every face names its source and file; joins then use an indexed column, not a COALESCE.
    op.execute(
        "UPDATE faces SET source_id = (SELECT images.source_id FROM images WHERE images.id = faces.image_id), "
        "dataset_path = (SELECT images.dataset_path FROM images WHERE images.id = faces.image_id) "
        "WHERE source_id IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.drop_index("ix_faces_source_id")
        batch.drop_constraint("fk_faces_source_id", type_="foreignkey")
        batch.drop_column("dataset_path")
        batch.drop_column("source_id")
