"""Where a catalog lives: a directory (SQLite + blobs) or a database URL plus a blob store (a
directory, or object storage: s3://bucket/prefix)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from db.blobs import BlobStore, check_writable_directory, open_store
from db.errors import CatalogError

DEFAULT_CATALOG = "catalog"
SQLITE_FILE = "catalog.sqlite"


@dataclass(frozen=True)
class CatalogLocation:
    url: str  # SQLAlchemy URL
    store: str  # the blob store: a directory, or an fsspec URL (s3://bucket/prefix)
    directory: Path | None  # the catalog directory, for a SQLite catalog
    display: str  # what to show a user (no password)
    sqlite_file: str = SQLITE_FILE  # the database file's name inside `directory`

    def blob_store(self) -> BlobStore:
        return open_store(self.store)

    @property
    def store_root(self) -> Path | None:
        """The blob directory; None when the blobs are in object storage."""
        return self.blob_store().local_root


def is_url(text: str) -> bool:
    return "://" in text


def resolve(location: str | os.PathLike | None, store: str | os.PathLike | None = None) -> CatalogLocation:
    """--catalog PATH_OR_URL (default: $FACECAT_CATALOG, else ./catalog); --store (default $FACECAT_STORE)."""
    text = os.fspath(location) if location is not None else os.environ.get("FACECAT_CATALOG") or DEFAULT_CATALOG
    store_text = os.fspath(store) if store is not None else os.environ.get("FACECAT_STORE")
    if is_url(text):
        try:
            url = make_url(text)
        except Exception as exc:  # sqlalchemy raises ArgumentError with a long text
            raise CatalogError(f"not a valid catalog URL: {text!r} ({exc})") from None
        display = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite":
            if not url.database or url.database == ":memory:":
                raise CatalogError("an in-memory SQLite catalog cannot hold blobs; give a directory")
            database = Path(url.database)
            root = store_text or str(database.parent)
            return CatalogLocation(text, root, database.parent, display, database.name)
        if not store_text:
            raise CatalogError(
                f"a database catalog ({display}) needs a blob store: pass --store DIR_OR_URL or set FACECAT_STORE"
            )
        return CatalogLocation(text, store_text, None, display)
    directory = Path(text).expanduser()
    root = store_text or str(directory)
    return CatalogLocation(f"sqlite:///{directory / SQLITE_FILE}", root, directory, str(directory))


def prepare_directory(loc: CatalogLocation, create: bool) -> None:
    """Check (and with create, make) a SQLite catalog's directory, and check that the blob root is
    not a file; clear errors, no tracebacks. The blob root itself is made by `prepare_store`, once
    the database has answered, so a catalog that cannot be opened leaves no empty store behind."""
    if loc.directory is not None:
        d = loc.directory
        if d.exists() and not d.is_dir():
            raise CatalogError(f"{d} is a file, not a catalog directory")
        if not (d / loc.sqlite_file).exists():
            if not create:
                raise CatalogError(
                    f"no catalog at {d}: create one with `curate init --catalog {d}`"
                )
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CatalogError(f"cannot create catalog directory {d}: {exc.strerror}") from None
        check_writable_directory(d)
    root = loc.store_root
    if root is not None and root.exists() and not root.is_dir():
        raise CatalogError(f"blob store {root} is a file, not a directory")


def prepare_store(store: BlobStore) -> None:
    """Make a blob directory if needed, and check that the store is reachable and writable."""
    store.check(create=True)
