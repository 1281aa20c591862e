"""Colours, badges and fonts shared by the labeler's widgets."""
from __future__ import annotations

from datetime import datetime, timezone

from PySide6.QtGui import QFont

# status -> (badge symbol, colour)
STATUS_STYLE = {
    "unreviewed": ("•", "#8a8f98"),
    "confirmed": ("✓", "#24964a"),
    "deleted": ("✕", "#d13b3b"),
    "uncertain": ("?", "#d99a00"),
    "no_face": ("∅", "#8a8f98"),
}


def emoji_font(point_size: float) -> QFont:
    """A font for the classes' emoji: the colour emoji font first, so they render in colour."""
    font = QFont()
    font.setFamilies(["Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji", font.family()])
    font.setPointSizeF(point_size)
    return font


def status_html(status: str) -> str:
    symbol, colour = STATUS_STYLE.get(status, ("", "#555"))
    return (f'<span style="background:{colour}; color:white; font-weight:bold">&nbsp;{symbol} {status}&nbsp;</span>')


def local_time(at: datetime) -> datetime:
    """A catalog timestamp (UTC; SQLite hands it back without a zone) in this machine's time zone."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return at.astimezone()
