"""Ctrl-C in a long command: one line saying what became of the work, instead of click's bare "Aborted!"."""
from __future__ import annotations

import functools
from typing import Callable, TypeVar

from db.cli import UserError

T = TypeVar("T")

KEPT = "interrupted; what was stored is kept: run the same command again to finish"
NOTHING_WRITTEN = "interrupted; nothing was written (OUT is as it was)"


def on_interrupt(message: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """A click command whose KeyboardInterrupt becomes `error: message`, exit 1."""

    def decorate(func: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            except KeyboardInterrupt:
                raise UserError(message) from None

        return wrapper

    return decorate
