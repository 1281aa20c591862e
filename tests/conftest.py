"""Fixtures shared by every stage's tests: a fresh catalog, the shared real data, PostgreSQL."""
from __future__ import annotations

import os
import shutil
import socket
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


@pytest.fixture(scope="session")
def pg_server():
    """The URL of a PostgreSQL server: $FACECAT_TEST_PG_URL, else a throwaway cluster started here
    from Debian's postgresql package; skips with a reason when neither is available."""
    url = os.environ.get("FACECAT_TEST_PG_URL")
    if url:
        yield url
        return
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL: set FACECAT_TEST_PG_URL or install Debian's postgresql")
    root = Path(tempfile.mkdtemp(prefix="facecat-pg-"))
    data, port = root / "data", _free_port()
    run_as: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run_as + [str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "facecat"],
                   check=True, capture_output=True)
    subprocess.run(
        run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                  f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start"],
        check=True, capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://facecat@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(run_as + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


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
