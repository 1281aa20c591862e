"""Schema versions: upgrade an older catalog when it is opened, refuse a newer one."""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect

from db.errors import CatalogError, SchemaTooNew

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def known_revisions() -> set[str]:
    return {s.revision for s in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
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
