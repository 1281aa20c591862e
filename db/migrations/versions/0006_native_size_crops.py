"""Native-size crops: a dataset's pre-cropped face smaller than the catalog's crop size keeps its
own size (FER2013's 48x48 instead of upscaled to 100x100). faces.stored_size is the side of the
stored PNG when it is smaller than crop_size; NULL (every face of an existing catalog) means
crop_size, so existing catalogs stay valid as they are and mixed sizes read the same (db.pixels).

Revision ID: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column without a default: no table rewrite on PostgreSQL or SQLite (ADD COLUMN).
    op.add_column("faces", sa.Column("stored_size", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faces") as batch:
        batch.drop_column("stored_size")
