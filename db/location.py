"""Where a catalog lives: a directory (SQLite + blobs) or a database URL plus a blob directory."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from db.errors import CatalogError

DEFAULT_CATALOG = "catalog"
SQLITE_FILE = "catalog.sqlite"


@dataclass(frozen=True)
class CatalogLocation:
    url: str  # SQLAlchemy URL
    store_root: Path  # root of the blob store
    directory: Path | None  # the catalog directory, for a SQLite catalog
    display: str  # what to show a user (no password)
    sqlite_file: str = SQLITE_FILE  # the database file's name inside `directory`


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
            root = Path(store_text) if store_text else database.parent
            return CatalogLocation(text, root, database.parent, display, database.name)
        if not store_text:
            raise CatalogError(
                f"a database catalog ({display}) needs a blob directory: pass --store DIR or set FACECAT_STORE"
            )
        return CatalogLocation(text, Path(store_text), None, display)
    directory = Path(text).expanduser()
    root = Path(store_text) if store_text else directory
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
        _check_writable(d)
    root = loc.store_root
    if root.exists() and not root.is_dir():
        raise CatalogError(f"blob store {root} is a file, not a directory")


def prepare_store(loc: CatalogLocation) -> None:
    """Make the blob root if needed and check that it is writable."""
    root = loc.store_root
    try:
        root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise CatalogError(f"blob store {root} is a file, not a directory") from None
    except OSError as exc:
        raise CatalogError(f"cannot create blob store {root}: {exc.strerror}") from None
    _check_writable(root)


def _check_writable(d: Path) -> None:
    # os.access is wrong for root and on some mounts: try to create a file.
    probe = d / f".facecat-write-test-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise CatalogError(f"catalog directory {d} is not writable: {exc.strerror}") from None
