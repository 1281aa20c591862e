"""A guard against PySide6 builds whose void methods return None without taking a reference
(PySide6 6.12.0, measured: QPainter.setPen, QLabel.setText, ... each take one of None's references).
From Python 3.12 None is immortal and nothing happens; on 3.11 None's count runs down as the grid
paints, and after a few minutes of scrolling the process aborts with "deallocating None".

pyproject keeps such builds out on Python < 3.12; should one be installed anyway, `guard()` finds the
leak at start and gives None the huge reference count Python 3.12 gives it (what immortality is),
so a session is never cut short.
"""
from __future__ import annotations

import ctypes
import sys
from typing import Callable

IMMORTAL = 1 << 40  # references added; each leaked call takes one


def none_leaks(call: Callable[[], object] | None = None, times: int = 64) -> bool:
    """Whether `call` (default: a void PySide6 method) loses a reference to None."""
    if call is None:
        from PySide6.QtCore import QPoint

        point = QPoint()

        def call():
            return point.setX(1)

    call()
    before = sys.getrefcount(None)
    for _ in range(times):
        call()
    return sys.getrefcount(None) < before - times // 2


def guard() -> bool:
    """Make None immortal when PySide6 leaks it (Python < 3.12 only); True when it did."""
    if sys.version_info >= (3, 12) or not none_leaks():
        return False
    ctypes.c_ssize_t.from_address(id(None)).value += IMMORTAL
    return True
