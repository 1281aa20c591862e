"""Fixtures shared by every stage's tests: a fresh catalog, the shared real data, PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from db import open_catalog

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("FACECAT_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture
def catalog(tmp_path):
    """A new, empty SQLite catalog directory."""
    with open_catalog(tmp_path / "catalog", create=True) as cat:
        yield cat


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real FER2013, JAFFE, photos, a saved search page); skips when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (the project's ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def pg_server():
    """The URL of a PostgreSQL server: $FACECAT_TEST_PG_URL (CI starts one), else a throwaway cluster
    started here with scripts/pg-throwaway; skips with a reason when neither is possible, unless
    FACECAT_REQUIRE_PG=1 (CI), where a missing server is a failure."""
    url = os.environ.get("FACECAT_TEST_PG_URL")
    if url:
        yield url
        return
    root = Path(tempfile.mkdtemp(prefix="facecat-pg-"))
    started = subprocess.run([str(REPO / "scripts" / "pg-throwaway"), "start", str(root)],
                             capture_output=True, text=True)
    if started.returncode != 0:
        reason = f"no PostgreSQL server: {started.stderr.strip() or 'pg-throwaway failed'}"
        if os.environ.get("FACECAT_REQUIRE_PG") == "1":
            pytest.fail(reason)
        pytest.skip(reason + " (set FACECAT_TEST_PG_URL or install Debian's postgresql)")
    try:
        yield started.stdout.strip()
    finally:
        subprocess.run([str(REPO / "scripts" / "pg-throwaway"), "stop", str(root)], capture_output=True)


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the PostgreSQL server, dropped afterwards."""
    import sqlalchemy as sa

    name = f"facecat_test_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    admin = sa.create_engine(pg_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = pg_server.rsplit("/", 1)[0] + "/" + name
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_catalog(request, tmp_path):
    """The same tests on a SQLite catalog and on a real PostgreSQL one."""
    if request.param == "sqlite":
        with open_catalog(tmp_path / "catalog", create=True) as cat:
            yield cat
    else:
        url = request.getfixturevalue("pg_url")
        with open_catalog(url, tmp_path / "blobs", create=True) as cat:
            yield cat
