"""Review and the model in the loop: claims on faces shown to an annotator, the context of a
decision in the audit (which tool, which model's prediction was on screen), models of a kind
(a single model or a cross-validation run), and predictions that say whether they are out of sample
and whether confident learning flagged them.

Revision ID: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "face_claims",
        sa.Column("face_id", sa.Integer, sa.ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("holder", sa.String(64), nullable=False),
        sa.Column("annotator", sa.String(128), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_face_claims_holder", "face_claims", ["holder"])
    op.create_index("ix_face_claims_expires_at", "face_claims", ["expires_at"])
    with op.batch_alter_table("label_events") as batch:
        batch.add_column(sa.Column("via", sa.String(32), nullable=True))
        batch.add_column(sa.Column("model_id", sa.Integer, nullable=True))
        batch.add_column(sa.Column("predicted_label", sa.String(64), nullable=True))
        batch.add_column(sa.Column("predicted_confidence", sa.Float, nullable=True))
        batch.create_foreign_key("fk_label_events_model_id", "models", ["model_id"], ["id"], ondelete="SET NULL")
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="model"))
    with op.batch_alter_table("predictions") as batch:
        batch.add_column(sa.Column("second_confidence", sa.Float, nullable=True))
        batch.add_column(sa.Column("in_sample", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("issue", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("issue")
        batch.drop_column("in_sample")
        batch.drop_column("second_confidence")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("label_events") as batch:
        batch.drop_constraint("fk_label_events_model_id", type_="foreignkey")
        for name in ("predicted_confidence", "predicted_label", "model_id", "via"):
            batch.drop_column(name)
    op.drop_index("ix_face_claims_expires_at", table_name="face_claims")
    op.drop_index("ix_face_claims_holder", table_name="face_claims")
    op.drop_table("face_claims")
