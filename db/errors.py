"""Errors the catalog raises. Every one carries a message fit to show a user as is."""
from __future__ import annotations


class CatalogError(Exception):
    """A user-facing problem with the catalog: shown as one line, exit code 1, no traceback."""


class CatalogNotFound(CatalogError):
    pass


class SchemaTooNew(CatalogError):
    pass


class ConflictError(CatalogError):
    """A write based on a stale version of a face's annotation; nothing was changed."""

    def __init__(self, face_id: int, expected_version: int, actual_version: int | None):
        self.face_id = face_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        if actual_version is None:
            msg = f"face {face_id} no longer exists"
        else:
            msg = (
                f"face {face_id} was changed by someone else (version {actual_version}, "
                f"you had {expected_version}); reload it and try again"
            )
        super().__init__(msg)


def database_error_message(exc: BaseException) -> str:
    """One line for a database failure (SQLAlchemy wraps the driver's error in exc.orig)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    if "database is locked" in text:
        return "the catalog is busy: another program held its write lock past the busy timeout; try again"
    return text
