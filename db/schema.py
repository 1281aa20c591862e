"""Schema versions: upgrade an older catalog when it is opened, refuse a newer one.

Alembic (and the migration scripts it loads) is imported only when a catalog is not at HEAD:
opening a current catalog, what every command and the labeler do at start, reads one row.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text

from db.errors import CatalogError, SchemaTooNew

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
HEAD = "0010"  # the newest migration's revision (tests/db/test_migrations.py checks it is alembic's head)


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    from alembic.script import ScriptDirectory

    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    """The catalog's schema revision; None for a database without one (empty, or not a catalog)."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine, revision: str = "head") -> None:
    from alembic import command

    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection if conn.dialect.name == "sqlite" else None
        if raw is not None:
            # SQLite batch migrations copy a table and drop the old one: with foreign keys on, that
            # drop would cascade into the annotations. The pragma only works outside a transaction.
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                command.upgrade(alembic_config(conn), revision)
                if raw is not None:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise CatalogError(f"schema upgrade would break {len(broken)} references; nothing was changed")
        finally:
            if raw is not None:
                raw.execute("PRAGMA foreign_keys=ON")


def ensure_current(engine: Engine, display: str, create: bool) -> bool:
    """Bring the catalog to the head schema. Returns True when it was created just now."""
    rev = current_revision(engine)
    if rev == HEAD:
        return False
    if rev is None:
        tables = set(inspect(engine).get_table_names())
        if tables - {"alembic_version"}:
            raise CatalogError(f"{display} holds tables but is not a facecat catalog")
        if not create:
            raise CatalogError(f"{display} is empty: create a catalog with `curate init --catalog {display}`")
        upgrade(engine)
        return True
    if rev not in known_revisions():
        raise SchemaTooNew(
            f"{display} was made by a newer facecat (schema {rev}; this one knows up to "
            f"{head_revision()}): upgrade facecat to open it"
        )
    if rev != head_revision():
        upgrade(engine)
    return False
