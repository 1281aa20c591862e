"""Schema versions: an older catalog is upgraded when opened, a newer one refused."""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from db import SchemaTooNew, open_catalog
from db.models import Base
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
    """The ORM models and the migration scripts never drift apart (on SQLite and PostgreSQL)."""
    with any_catalog.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
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
