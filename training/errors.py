"""The one error type of the training stage: a message fit to show a user as is (one line, exit 1)."""
from __future__ import annotations

from db.errors import CatalogError


class TrainingError(CatalogError):
    """A model, an input or an option that cannot be used; db.cli.user_errors shows it as one line."""
