"""Each prediction keeps the two figures the labeler ranks faces by, so that its model orders read
an index in order instead of parsing JSON and sorting 100,000 rows:
- self_confidence: the probability the model gives the face's own label (its label, else its
  suggested label); NULL when the face has neither, or the model does not know that class;
- margin: the normalized margin, (self_confidence - the best other class's probability + 1) / 2.

Both depend on the annotation as well as the prediction, so triggers keep them current: when a
prediction is written, and when a face's own label changes (whatever writes it: the labeler,
curate, a script). Indexes (model_id, key, face_id) serve the orders, and the least-confidence one.

SQLite copies a table in a batch migration and drops its triggers: a later migration that
batch-alters predictions or annotations must create these again (tests/db/test_review.py checks
they work at the head).

Revision ID: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

INDEXES = {"ix_predictions_model_confidence": "confidence", "ix_predictions_model_self_confidence": "self_confidence",
           "ix_predictions_model_margin": "margin"}


def _sqlite_own(p: str, own: str) -> tuple[str, str]:
    """(self_confidence, margin) of the prediction row `p` for the own label expression `own`."""
    selfc = f"json_extract({p}.probabilities, '$.\"' || ({own}) || '\"')"
    other = f"CASE WHEN {p}.label = ({own}) THEN {p}.second_confidence ELSE {p}.confidence END"
    return selfc, f"({selfc} - coalesce({other}, 0.0) + 1.0) / 2.0"


SQLITE_OWN = "SELECT coalesce(a.label, a.suggested_label) FROM annotations a WHERE a.face_id = predictions.face_id"
SQLITE_SET = "UPDATE predictions SET self_confidence = {0}, margin = {1}".format(*_sqlite_own("predictions", SQLITE_OWN))

SQLITE_TRIGGERS = [
    # A prediction written (train suggest, an upsert's insert or update): its own row.
    f"""CREATE TRIGGER predictions_rank_on_insert AFTER INSERT ON predictions
        BEGIN {SQLITE_SET} WHERE id = NEW.id; END""",
    f"""CREATE TRIGGER predictions_rank_on_update
        AFTER UPDATE OF probabilities, label, confidence, second_confidence ON predictions
        BEGIN {SQLITE_SET} WHERE id = NEW.id; END""",
    # A face's own label changed: every model's prediction of it.
    f"""CREATE TRIGGER annotations_rank_on_insert AFTER INSERT ON annotations
        BEGIN {SQLITE_SET} WHERE face_id = NEW.face_id; END""",
    f"""CREATE TRIGGER annotations_rank_on_update AFTER UPDATE OF label, suggested_label ON annotations
        WHEN coalesce(OLD.label, OLD.suggested_label) IS NOT coalesce(NEW.label, NEW.suggested_label)
        BEGIN {SQLITE_SET} WHERE face_id = NEW.face_id; END""",
]

POSTGRES_TRIGGERS = [
    """CREATE FUNCTION facecat_prediction_rank() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE own text;
    BEGIN
        SELECT coalesce(a.label, a.suggested_label) INTO own FROM annotations a WHERE a.face_id = NEW.face_id;
        NEW.self_confidence := (NEW.probabilities ->> own)::float;
        NEW.margin := (NEW.self_confidence - coalesce(CASE WHEN NEW.label = own THEN NEW.second_confidence
                                                          ELSE NEW.confidence END, 0.0) + 1.0) / 2.0;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER predictions_rank BEFORE INSERT OR UPDATE OF probabilities, label, confidence, second_confidence
       ON predictions FOR EACH ROW EXECUTE FUNCTION facecat_prediction_rank()""",
    # Setting probabilities to itself runs the trigger above on every model's prediction of the face.
    """CREATE FUNCTION facecat_annotation_rank() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE predictions SET probabilities = probabilities WHERE face_id = NEW.face_id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER annotations_rank_on_insert AFTER INSERT ON annotations
       FOR EACH ROW EXECUTE FUNCTION facecat_annotation_rank()""",
    """CREATE TRIGGER annotations_rank_on_update AFTER UPDATE OF label, suggested_label ON annotations
       FOR EACH ROW WHEN (coalesce(OLD.label, OLD.suggested_label) IS DISTINCT FROM coalesce(NEW.label, NEW.suggested_label))
       EXECUTE FUNCTION facecat_annotation_rank()""",
]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    # add_column, not a batch: a batch would copy predictions (and, on SQLite, drop nothing yet).
    op.add_column("predictions", sa.Column("self_confidence", sa.Float, nullable=True))
    op.add_column("predictions", sa.Column("margin", sa.Float, nullable=True))
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)
    # The predictions already stored: set probabilities to itself, and the triggers fill both.
    op.execute("UPDATE predictions SET probabilities = probabilities")
    for name, column in INDEXES.items():
        op.create_index(name, "predictions", ["model_id", column, "face_id"])


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in INDEXES:
        op.drop_index(name, table_name="predictions")
    for trigger, table in [("annotations_rank_on_update", "annotations"), ("annotations_rank_on_insert", "annotations"),
                           ("predictions_rank", "predictions"), ("predictions_rank_on_update", "predictions"),
                           ("predictions_rank_on_insert", "predictions")]:
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS facecat_annotation_rank()")
        op.execute("DROP FUNCTION IF EXISTS facecat_prediction_rank()")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("margin")
        batch.drop_column("self_confidence")
