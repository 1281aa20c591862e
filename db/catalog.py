"""Open a catalog and hand out its repository API (see Catalog)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import Connection, Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from db import models as m
from db.annotations import AnnotationsMixin
from db.blobs import BlobStore
from db.browse import BrowseMixin
from db.errors import CatalogError, database_error_message
from db.explanations import ExplanationsMixin
from db.ingest import IngestMixin
from db.issues import IssuesMixin
from db.location import CatalogLocation, prepare_directory, prepare_store, resolve
from db.queries import QueriesMixin
from db.registry import RegistryMixin
from db.review import ReviewMixin
from db.schema import ensure_current

# FER2013's seven classes, in its numbering order; keys are the labeler's shortcuts.
DEFAULT_CLASSES = [
    ("angry", "1", "😠"),
    ("disgust", "2", "🤢"),
    ("fear", "3", "😨"),
    ("happy", "4", "😀"),
    ("sad", "5", "😢"),
    ("surprise", "6", "😮"),
    ("neutral", "7", "😐"),
]

PG_CONNECT_TIMEOUT_S = 10
SQLITE_BUSY_TIMEOUT_MS = 30_000  # how long a writer queues for the lock; FACECAT_SQLITE_BUSY_MS overrides


class Catalog(IngestMixin, QueriesMixin, BrowseMixin, AnnotationsMixin, ReviewMixin, RegistryMixin,
              ExplanationsMixin, IssuesMixin):
    """The repository API every stage uses. Stages write no SQL of their own.

    Writes go through `_writing()`: on SQLite it takes the write lock up front (BEGIN IMMEDIATE) so
    two writers queue on the busy timeout instead of failing half-way.
    """

    def __init__(self, location: CatalogLocation, engine: Engine, created: bool = False,
                 blobs: BlobStore | None = None):
        self.location = location
        self.engine = engine
        # Originals: read them with blobs.read(relpath) / blobs.open(relpath) (any store);
        # blobs.path(relpath) only where the store is a directory.
        self.blobs = blobs or location.blob_store()
        self.created = created  # this open made the catalog (open_catalog with create=True)

    @property
    def display(self) -> str:
        return self.location.display

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def optimize(self) -> bool:
        """Refresh the query planner's statistics; call after a bulk load (an import, an extraction).
        Best effort: statistics only, so a busy catalog is no error (False: not refreshed)."""
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")
                conn.commit()
        except DBAPIError:
            return False
        return True

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(facecat_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def _seed_classes(self) -> None:
        with self._writing() as conn:
            if conn.execute(select(m.classes.c.name).limit(1)).first() is None:
                conn.execute(
                    m.classes.insert(),
                    [
                        {"name": n, "key": k, "emoji": e, "position": i}
                        for i, (n, k, e) in enumerate(DEFAULT_CLASSES)
                    ],
                )


def _make_engine(loc: CatalogLocation) -> Engine:
    if loc.url.startswith("sqlite"):
        busy_text = os.environ.get("FACECAT_SQLITE_BUSY_MS", str(SQLITE_BUSY_TIMEOUT_MS))
        if not busy_text.isdigit():
            raise CatalogError(f"FACECAT_SQLITE_BUSY_MS must be a whole number of milliseconds, not {busy_text!r}")
        busy_ms = int(busy_text)
        engine = create_engine(loc.url, connect_args={"timeout": busy_ms / 1000})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            # Let SQLAlchemy's "begin" event below issue BEGIN, so writes can take the lock up front.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            immediate = conn.get_execution_options().get("facecat_immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        # No server-side prepared statements: PostgreSQL would keep a generic plan made while a table
        # was small (a sequential scan) long after it has grown; a bulk import then slows to a crawl.
        psycopg3 = make_url(loc.url).get_driver_name() == "psycopg"  # the option is psycopg 3's own
        # connect_timeout: a server that does not answer (a host down, a firewall) is an error in
        # seconds, not after the operating system's TCP timeout of minutes (a URL's own wins).
        args = {"connect_timeout": PG_CONNECT_TIMEOUT_S} if "connect_timeout" not in loc.url else {}
        if psycopg3:
            args["prepare_threshold"] = None
        return create_engine(loc.url, pool_pre_ping=True, connect_args=args)
    except ModuleNotFoundError as exc:
        raise CatalogError(f"the database driver for {loc.display} is not installed: {exc.name}") from None
    except SQLAlchemyError as exc:
        raise CatalogError(f"cannot use catalog URL {loc.display}: {exc}") from None


def open_catalog(
    location: str | os.PathLike | None = None,
    store: str | os.PathLike | None = None,
    *,
    create: bool = False,
) -> Catalog:
    """Open (with create=True: create if needed) the catalog at a directory or database URL.

    An older schema is upgraded; a newer one is refused. Every failure is a CatalogError with a
    one-line message. The blob directory is made only once the database has answered, so a server
    that cannot be reached leaves nothing behind; object storage is checked (bucket there, writable)
    before anything else. The catalog's `created` says whether this call
    made it.
    """
    loc = resolve(location, store)
    blobs = loc.blob_store()
    if not blobs.is_local:
        prepare_store(blobs)  # object storage that cannot be reached: said before anything is made
    prepare_directory(loc, create=create)
    engine = _make_engine(loc)
    try:
        with engine.connect():
            pass  # reach the database before anything is made on disk
        if blobs.is_local:
            prepare_store(blobs)
        created = ensure_current(engine, loc.display, create=create)
    except DBAPIError as exc:
        engine.dispose()
        raise CatalogError(f"cannot open catalog {loc.display}: {database_error_message(exc)}") from None
    except BaseException:
        engine.dispose()
        raise
    catalog = Catalog(loc, engine, created, blobs)
    if created:
        catalog._seed_classes()
    return catalog


def init_catalog(location: str | os.PathLike | None = None, store: str | os.PathLike | None = None) -> Catalog:
    """Create a catalog (or open an existing one, unchanged)."""
    return open_catalog(location, store, create=True)
