"""Schema versions: an older catalog is upgraded when opened, a newer one refused."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from db import SchemaTooNew, open_catalog
from db.models import metadata
from db.schema import current_revision, head_revision, upgrade
from db.types import FaceFilter
from tests.db.helpers import from_a_newer_facecat


def test_catalog_from_the_first_schema_is_upgraded_with_its_data(tmp_path):
    directory = tmp_path / "old"
    directory.mkdir()
    engine = create_engine(f"sqlite:///{directory / 'catalog.sqlite'}")
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO sources (id, kind, name, params, created_at) VALUES (1, 'dataset', 'jaffe', '{}', '2024-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO images (id, sha256, blob_path, width, height, format, source_id, extraction_state, created_at)"
            " VALUES (1, 'aa', 'images/aa/aa.png', 10, 10, 'PNG', 1, 'faces', '2024-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO faces (id, image_id, bbox_left, bbox_top, bbox_width, bbox_height, detector, crop_size,"
            " crop_png, phash, pixel_sha256, settings, created_at)"
            " VALUES (1, 1, 0, 0, 10, 10, 'hog', 100, x'89', '00', 'bb', '{}', '2024-01-01')")
        conn.exec_driver_sql(
            "INSERT INTO annotations (face_id, label, status, updated_at, version)"
            " VALUES (1, 'angry', 'unreviewed', '2024-01-01', 1)")
    tables_before = set(sqlite3.connect(directory / "catalog.sqlite").execute(
        "SELECT name FROM sqlite_master WHERE type='table'").fetchall())
    assert ("downloads",) not in tables_before
    engine.dispose()

    with open_catalog(directory) as cat:
        assert current_revision(cat.engine) == head_revision() != "0001"
        (face,) = cat.select_faces(FaceFilter())
        assert (face.label, face.source_name) == ("angry", "jaffe")
        assert (face.crop_size, face.stored_size) == (100, 100)  # 0006: a crop stored at its catalog size
        assert cat.stats()["by_download"] == {}  # the table 0002 added is there and usable


def test_catalog_from_a_newer_facecat_is_refused(tmp_path):
    open_catalog(tmp_path / "c", create=True).close()
    from_a_newer_facecat(tmp_path / "c")
    with pytest.raises(SchemaTooNew, match="newer facecat.*0099_from_the_future.*upgrade facecat"):
        open_catalog(tmp_path / "c")


def test_a_database_that_is_not_a_catalog_is_refused(tmp_path):
    (tmp_path / "c").mkdir()
    con = sqlite3.connect(tmp_path / "c" / "catalog.sqlite")
    con.execute("CREATE TABLE something_else (x)")
    con.close()
    with pytest.raises(Exception, match="not a facecat catalog"):
        open_catalog(tmp_path / "c")


def test_migrations_create_exactly_the_models(any_catalog):
    """The tables of db.models and the migration scripts never drift apart (on SQLite and PostgreSQL)."""
    with any_catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_the_head_a_current_catalog_is_checked_against_without_alembic_is_alembics_head():
    from db.schema import HEAD

    assert HEAD == head_revision()  # a new migration must move db.schema.HEAD with it


def test_opening_a_current_catalog_does_not_load_alembic(tmp_path):
    import subprocess
    import sys

    with open_catalog(tmp_path / "c", create=True):
        pass
    probe = ("import sys; from db import open_catalog\n"
             f"with open_catalog({str(tmp_path / 'c')!r}) as cat: pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"


def test_predictions_stored_before_the_rankings_are_ranked_after_the_upgrade(any_catalog, tmp_path):
    """0009 and 0010 on a catalog that already holds predictions (SQLite and PostgreSQL): their
    triggers fill the ranking columns and the disagreement of every stored row, and a label changed
    after the upgrade is followed."""
    from alembic import command

    from db.schema import alembic_config
    from db.types import NewModel, NewPrediction, Order, ReviewFilter
    from tests.db.helpers import add_faces

    cat = any_catalog
    f = add_faces(cat, 3, label="happy")
    mid = cat.register_model(NewModel(name="m", path=str(tmp_path / "m"), classes=["happy", "sad"]))
    with cat.engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # As db.schema.upgrade does for a batch migration (outside a transaction).
            conn.connection.dbapi_connection.execute("PRAGMA foreign_keys=OFF")
        with conn.begin():
            command.downgrade(alembic_config(conn), "0008")
        with conn.begin():  # what facecat 0008 stored: no ranking columns
            for face, p in zip(f, (0.9, 0.2, 0.5)):
                guess = "happy" if p > 0.5 else "sad"
                conn.exec_driver_sql(
                    "INSERT INTO predictions (model_id, face_id, label, confidence, second_confidence, probabilities,"
                    f" created_at, in_sample, issue) VALUES ({mid}, {face}, '{guess}', 0.9, 0.1,"
                    f" '{{\"happy\": {p}, \"sad\": {1 - p:.1f}}}', '2026-01-01', false, false)")
    location = cat.location
    with open_catalog(location.url if location.directory is None else location.directory, location.store_root) as again:
        assert current_revision(again.engine) == head_revision()
        assert again.review_ids(ReviewFilter(model_id=mid), Order.SELF_CONFIDENCE) == [f[1], f[2], f[0]]
        disagreeing = ReviewFilter(model_id=mid, model_disagrees=True)
        assert again.review_ids(disagreeing) == [f[1], f[2]]  # 0010: the model said sad, they are happy
        again.annotate(f[0], 1, "ann", label="sad")  # p(sad) .1: first now
        assert again.review_ids(ReviewFilter(model_id=mid), Order.SELF_CONFIDENCE) == [f[0], f[1], f[2]]
        again.annotate(f[1], 1, "ann", label="sad")
        assert again.review_ids(disagreeing) == [f[0], f[2]]
