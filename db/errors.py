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
