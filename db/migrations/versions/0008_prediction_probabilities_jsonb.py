"""Predictions' probabilities as jsonb on PostgreSQL, so the labeler's model orders read one class's
probability (`->>`) from a parsed binary value instead of re-parsing JSON text on every row (the
self-confidence and margin orders over 100,000 predictions). SQLite keeps its JSON text.

Revision ID: 0008
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("predictions", "probabilities", type_=postgresql.JSONB(), existing_type=sa.JSON(),
                        postgresql_using="probabilities::jsonb")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("predictions", "probabilities", type_=sa.JSON(), existing_type=postgresql.JSONB(),
                        postgresql_using="probabilities::json")
