"""The grid: a list model holding only the ids of the current filter (rows loaded a page at a time,
when first painted), a delegate that draws a face with its label, status and the model's guess, and
an icon-mode list view set up for 100,000 items (uniform sizes, static, laid out in one pass)."""
from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

from PySide6.QtCore import QPersistentModelIndex, QPoint, QRect, QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate

from db.types import ClassInfo, FaceRow, ImageRow, PredictionRow
from labeler.style import STATUS_STYLE, emoji_font
from labeler.thumbs import BROKEN, Thumbnails

ITEM_ROLE = Qt.ItemDataRole.UserRole + 1
PAGE = 200  # rows loaded at once
ZOOMS = (48, 64, 80, 96, 128, 160, 200)


@dataclass(frozen=True, slots=True)
class Item:
    """What one grid cell shows: a face (with the model's prediction, if any) or an image."""

    row: FaceRow | ImageRow
    prediction: PredictionRow | None = None

    @property
    def is_image(self) -> bool:
        return isinstance(self.row, ImageRow)


class ListModel(QStringListModel):
    """Ids of the current filter, in order; their items are fetched a page at a time on first use
    and kept in a bounded cache. Nothing is fetched for rows nobody looks at.

    A string list model (of empty strings) only so that Qt counts the rows in C++: laying out a
    grid asks rowCount two to four times a cell, and a Python rowCount made that ~250 ms of the GUI
    thread per list of 100,000 faces (1.2 us a call), against ~15 ms. Only data and flags are ours."""

    load_failed = Signal(str)

    def __init__(self, fetch: Callable[[list[int]], dict[int, Item]], capacity: int = 6_000):
        super().__init__()
        self.fetch = fetch
        self.ids: list[int] = []
        self._row_of: dict[int, int] | None = None
        self._items: OrderedDict[int, Item] = OrderedDict()
        self._capacity = capacity
        self.pending: dict[int, tuple[str | None, str]] = {}  # written soon: (label, status)
        self.others: dict[int, str | None] = {}  # unreviewed faces another app claims: its annotator
        self.failed_at: float = 0.0
        self._generation = 0  # a new list or an emptied cache: rows fetched before it are void
        self._touched: set[int] = set()  # rows changed since the fetch ahead began (theirs are older)

    # --- Qt's side -----------------------------------------------------------------------------
    def data(self, index, role=Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        if role == ITEM_ROLE:
            return self.item(index.row())
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            item = self.item(index.row())
            return None if item is None else describe(item, self.pending.get(item.row.id))
        return None

    def flags(self, index) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if index.isValid() else Qt.ItemFlag.NoItemFlags

    # --- the window's side -----------------------------------------------------------------------
    def set_ids(self, ids: list[int]) -> None:
        self.ids = ids  # (before the reset: views read rows of the new list when it ends)
        self._row_of = None
        self._generation += 1
        self.setStringList([""] * len(ids))

    def clear_cache(self) -> None:
        self._items.clear()
        self._touched.clear()
        self._generation += 1

    # --- rows fetched ahead on a worker (the GUI thread then rarely waits on the catalog) --------------
    def missing(self, first: int, last: int) -> list[int]:
        """Keys of rows first..last that are not cached, in row order."""
        first, last = max(0, first), min(len(self.ids) - 1, last)
        return [k for k in self.ids[first : last + 1] if k not in self._items]

    def begin_prefetch(self) -> int:
        """A fetch ahead starts (one at a time): its token for store_prefetched."""
        self._touched.clear()
        return self._generation

    def store_prefetched(self, items: dict[int, Item], token: int) -> int:
        """Rows fetched ahead: kept unless the list changed meanwhile, or a row was changed
        (a committed write) or fetched again after the worker read it. Returns how many were kept."""
        if token != self._generation:
            return 0
        fresh = {k: it for k, it in items.items() if k not in self._touched and k not in self._items}
        self._store(fresh)
        return len(fresh)

    def row_of(self, key: int) -> int | None:
        if self._row_of is None:
            self._row_of = {k: r for r, k in enumerate(self.ids)}
        return self._row_of.get(key)

    def append(self, ids: Sequence[int]) -> int:
        """New faces that match the filter join at the end (nothing already shown moves); returns
        how many joined."""
        new = [i for i in ids if self.row_of(i) is None]
        if not new:
            return 0
        first = len(self.ids)
        self.ids.extend(new)
        for r, k in enumerate(new, first):
            self._row_of[k] = r
        self.insertRows(first, len(new))
        return len(new)

    def cached(self, key: int) -> Item | None:
        return self._items.get(key)

    def item(self, row: int) -> Item | None:
        if not 0 <= row < len(self.ids):
            return None
        key = self.ids[row]
        item = self._items.get(key)
        if item is None:
            item = self._load_page(row).get(key)
        return item

    def items(self, rows: Sequence[int]) -> list[Item]:
        """Items of these rows, loading the missing ones 1,000 at a time (Ctrl+A on 100,000 faces:
        more than the cache keeps, so they are collected here, not read back from it)."""
        found = {k: it for k in (self.ids[r] for r in rows) if (it := self._items.get(k)) is not None}
        missing = [self.ids[r] for r in rows if self.ids[r] not in found]
        for i in range(0, len(missing), 1000):
            fetched = self._fetch(missing[i : i + 1000])
            found.update(fetched)
            self._store(fetched)
        return [found[k] for k in (self.ids[r] for r in rows) if k in found]

    def replace_items(self, items: dict[int, Item]) -> None:
        """Fresh items (after a write, a change elsewhere): repaint their rows where they are."""
        self._touched.update(items)
        self._store(items)
        self._changed(items.keys())

    def update_rows(self, updates: dict[int, dict]) -> None:
        """Change fields of cached rows (a committed write: label, status, version, annotator)."""
        self._touched.update(updates)
        for key, fields in updates.items():
            item = self._items.get(key)
            if item is not None:
                self._items[key] = replace(item, row=replace(item.row, **fields))
        self._changed(updates.keys())

    def set_pending(self, pending: dict[int, tuple[str | None, str]]) -> None:
        self.pending.update(pending)
        self._changed(pending.keys())

    def clear_pending(self, keys: Sequence[int]) -> None:
        for k in keys:
            self.pending.pop(k, None)
        self._changed(keys)

    def set_others(self, others: dict[int, str | None]) -> None:
        changed = set(others) ^ set(self.others)
        self.others = dict(others)
        self._changed(changed)

    def _changed(self, keys) -> None:
        for k in keys:
            r = self.row_of(k)
            if r is not None:
                ix = self.index(r)
                self.dataChanged.emit(ix, ix)

    def _fetch(self, keys: list[int]) -> dict[int, Item]:
        try:
            return self.fetch(keys)
        except Exception as exc:  # an unreachable catalog: say so once in a while, draw placeholders
            now = time.monotonic()
            if now - self.failed_at > 5:
                self.failed_at = now
                self.load_failed.emit(f"cannot read faces from the catalog: {exc}".splitlines()[0])
            return {}

    def _load_page(self, row: int) -> dict[int, Item]:
        """Fetch the rows from `row` on, a page of them (what was missing); returns what came.
        The page starts at the row asked for, not at a multiple of PAGE: a paint asks for its
        top-left cell first, and one read then covers the screen (an aligned page often ended
        inside it: two reads per new list, 30 ms more on PostgreSQL)."""
        if time.monotonic() - self.failed_at < 2:  # do not hammer a catalog that just failed
            return {}
        keys = [k for k in self.ids[row : row + PAGE] if k not in self._items]
        fetched = self._fetch(keys)
        self._store(fetched)
        return fetched

    def _store(self, items: dict[int, Item]) -> None:
        for k, it in items.items():
            self._items[k] = it
            self._items.move_to_end(k)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)


def describe(item: Item, pending=None) -> str:
    """One line about a cell (the accessible text, the tooltip)."""
    r = item.row
    if item.is_image:
        return f"image {r.id}: no face found ({r.extraction_state}), {r.source_name}"
    label, status = pending or (r.label, r.status.value)
    text = f"face {r.id}: {label or 'no label'}"
    if not r.label and r.suggested_label and not pending:
        text = f"face {r.id}: suggested {r.suggested_label}"
    text += f" ({status}{', saving' if pending else ''})"
    if item.prediction is not None:
        text += f"; model: {item.prediction.label} {item.prediction.confidence:.0%}"
    return text


class FaceDelegate(QStyledItemDelegate):
    """Draws a cell: the thumbnail, a status badge, the label (or the suggestion, drawn in italics
    with a question mark) with its emoji, and the model's guess (red when it disagrees).

    Everything but the thumbnail is drawn once into small cached pixmaps (a badge per status, a
    line per label and per guess), so painting a screen of faces is a few blits per cell."""

    def __init__(self, thumbs: Thumbnails, classes: Sequence[ClassInfo], model: ListModel, parent=None):
        super().__init__(parent)
        self.thumbs = thumbs
        self.model = model
        self.emoji = {c.name: c.emoji for c in classes}
        self.side = thumbs.size
        self.text_font = QFont()
        self.text_font.setPointSizeF(9)
        self.label_font = QFont(self.text_font)
        self.label_font.setBold(True)
        self.suggestion_font = QFont(self.text_font)
        self.suggestion_font.setItalic(True)
        self.small_font = QFont()
        self.small_font.setPointSizeF(7.5)
        self.badge_font = QFont()
        self.badge_font.setBold(True)
        self.emoji_font = emoji_font(11)
        self._decor: OrderedDict[tuple, QPixmap] = OrderedDict()
        self._frames = {status: (QPen(QColor(colour), 2 if status != "unreviewed" else 1), QColor(colour))
                        for status, (_sym, colour) in STATUS_STYLE.items()}
        self._placeholder = QColor("#e4e4e4")
        self._selected = QColor("#cfe3ff")
        self._veil = QColor(255, 255, 255, 150)
        self._current_pen = QPen(QColor("#1f5fd1"), 3)

    def cell(self) -> QSize:
        return QSize(max(self.side + 12, 104), self.side + 48)

    def sizeHint(self, option, index) -> QSize:
        return self.cell()

    def paint(self, painter: QPainter, option, index) -> None:
        item = index.data(ITEM_ROLE)
        rect = option.rect.adjusted(2, 2, -2, -2)
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, self._selected)
        thumb = QRect(rect.x() + (rect.width() - self.side) // 2, rect.y() + 4, self.side, self.side)
        if item is None:
            painter.fillRect(thumb, self._placeholder)
            return
        key = item.row.id
        if item.is_image:
            pending = None
            label, status = None, ("deleted" if item.row.extraction_state == "rejected" else "no_face")
        else:
            pending = self.model.pending.get(key)
            label, status = pending or (item.row.label, item.row.status.value)
        pix = self.thumbs.pixmap(key)
        if pix is None:
            painter.fillRect(thumb, self._placeholder)
        elif pix is BROKEN:
            painter.drawPixmap(thumb.topLeft(), self._broken(item.is_image))
        else:
            size = pix.deviceIndependentSize()
            painter.drawPixmap(thumb.x() + (self.side - int(size.width())) // 2,
                               thumb.y() + (self.side - int(size.height())) // 2, pix)
        claimed = key in self.model.others
        if status == "deleted" or claimed:
            painter.fillRect(thumb, self._veil)
        pen, _colour = self._frames[status]
        painter.setPen(pen)
        painter.drawRect(thumb.adjusted(0, 0, -1, -1))
        badge = self._badge(status)
        painter.drawPixmap(thumb.right() - badge.width() - 1, thumb.top() + 2, badge)
        if pending:
            painter.drawPixmap(thumb.x() + 3, thumb.y() + 3, self._saving())
        if claimed:
            painter.drawPixmap(thumb.topLeft(), self._claimed(self.model.others[key] or "another app"))
        y = thumb.bottom() + 4
        if item.is_image:
            line = self._text_line("no face found" if status != "deleted" else "rejected", rect.width())
        else:
            line = self._label_line(label, item.row.suggested_label, rect.width())
        painter.drawPixmap(rect.x(), y, line)
        p = None if item.is_image else item.prediction
        if p is not None:
            own = label or item.row.suggested_label
            painter.drawPixmap(rect.x(), y + 18,
                               self._guess(p.label, round(p.confidence * 100), bool(own and p.label != own), rect.width()))
        view = self.parent()
        if view is not None and view.currentIndex() == index:
            painter.setPen(self._current_pen)
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRect(rect.adjusted(1, 1, -2, -2))

    # --- cached decorations ----------------------------------------------------------------------
    def _cached(self, key: tuple, draw: Callable[[], QPixmap]) -> QPixmap:
        pix = self._decor.get(key)
        if pix is None:
            pix = self._decor[key] = draw()
            if len(self._decor) > 3000:
                self._decor.popitem(last=False)
        return pix

    def _canvas(self, width: int, height: int) -> tuple[QPixmap, QPainter]:
        view = self.parent()
        dpr = view.devicePixelRatioF() if view is not None else 1.0
        pix = QPixmap(round(width * dpr), round(height * dpr))
        pix.setDevicePixelRatio(dpr)
        pix.fill(Qt.GlobalColor.transparent)
        painter = QPainter(pix)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        painter.setRenderHint(QPainter.RenderHint.TextAntialiasing, True)
        return pix, painter

    def _badge(self, status: str) -> QPixmap:
        d = 18 if self.side >= 80 else 14

        def draw():
            pix, p = self._canvas(d + 2, d + 2)
            p.setPen(QPen(QColor("white"), 1.5))
            p.setBrush(self._frames[status][1])
            p.drawEllipse(QRect(1, 1, d - 1, d - 1))
            p.setFont(self.badge_font)
            p.setPen(QColor("white"))
            p.drawText(QRect(1, 1, d - 1, d - 1), Qt.AlignmentFlag.AlignCenter, STATUS_STYLE[status][0])
            p.end()
            return pix

        return self._cached(("badge", status, d), draw)

    def _saving(self) -> QPixmap:
        def draw():
            pix, p = self._canvas(10, 10)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#3b6fd8"))
            p.drawEllipse(0, 0, 9, 9)
            p.end()
            return pix

        return self._cached(("saving",), draw)

    def _broken(self, image: bool) -> QPixmap:
        def draw():
            pix, p = self._canvas(self.side, self.side)
            p.fillRect(QRect(0, 0, self.side, self.side), QColor("#fbe9e9"))
            p.setPen(QColor("#b03030"))
            p.setFont(self.small_font)
            p.drawText(QRect(0, 0, self.side, self.side), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       "unreadable\nimage" if image else "unreadable\ncrop")
            p.end()
            return pix

        return self._cached(("broken", image, self.side), draw)

    def _claimed(self, who: str) -> QPixmap:
        def draw():
            pix, p = self._canvas(self.side, self.side)
            p.setPen(QColor("#333"))
            p.setFont(self.small_font)
            p.drawText(QRect(0, 0, self.side, self.side), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                       f"claimed by\n{who}")
            p.end()
            return pix

        return self._cached(("claimed", who, self.side), draw)

    def _text_line(self, text: str, width: int) -> QPixmap:
        def draw():
            pix, p = self._canvas(width, 17)
            p.setPen(QColor("#555"))
            p.setFont(self.small_font)
            p.drawText(QRect(0, 0, width, 17), Qt.AlignmentFlag.AlignCenter, text)
            p.end()
            return pix

        return self._cached(("text", text, width), draw)

    def _guess(self, label: str, percent: int, disagrees: bool, width: int) -> QPixmap:
        def draw():
            pix, p = self._canvas(width, 14)
            p.setFont(self.small_font)
            p.setPen(QColor("#c0392b") if disagrees else QColor("#666"))
            text = p.fontMetrics().elidedText(f"model: {label} {percent}%", Qt.TextElideMode.ElideRight, width)
            p.drawText(QRect(0, 0, width, 14), Qt.AlignmentFlag.AlignCenter, text)
            p.end()
            return pix

        return self._cached(("guess", label, percent, disagrees, width), draw)

    def _label_line(self, label: str | None, suggested: str | None, width: int) -> QPixmap:
        """The label in bold; else the suggestion in italics with a question mark and a dotted
        underline (not decided yet); else "no label"."""
        def draw():
            pix, p = self._canvas(width, 17)
            line = QRect(0, 0, width, 17)
            if not label and not suggested:
                p.setFont(self.text_font)
                p.setPen(QColor("#9aa0a6"))
                p.drawText(line, Qt.AlignmentFlag.AlignCenter, "no label")
                p.end()
                return pix
            name, font, colour = ((label, self.label_font, QColor("#111")) if label else
                                  (f"{suggested}?", self.suggestion_font, QColor("#6a6f78")))
            emoji = self.emoji.get(label or suggested, "")
            p.setFont(self.emoji_font)
            em_w = p.fontMetrics().horizontalAdvance(emoji + " ") if emoji else 0
            p.setFont(font)
            fm = p.fontMetrics()
            name = fm.elidedText(name, Qt.TextElideMode.ElideRight, width - em_w - 4)
            total = em_w + fm.horizontalAdvance(name)
            x = (width - total) // 2
            if emoji:
                p.setFont(self.emoji_font)
                p.drawText(QRect(x, 0, em_w, line.height()), Qt.AlignmentFlag.AlignVCenter, emoji)
            p.setFont(font)
            p.setPen(colour)
            p.drawText(QRect(x + em_w, 0, width, line.height()), Qt.AlignmentFlag.AlignVCenter, name)
            if not label:
                p.setPen(QPen(colour, 1, Qt.PenStyle.DotLine))
                p.drawLine(x + em_w, line.height() - 2, x + total, line.height() - 2)
            p.end()
            return pix

        return self._cached(("label", label, suggested if not label else None, width), draw)

    def resize(self, side: int) -> None:
        """A new thumbnail size (zoom): the decorations sized by it are drawn anew."""
        self.side = side
        self._decor.clear()


class GridView(QListView):
    """Icon mode for 100,000 faces: uniform item sizes (no size asked per item), static movement,
    one layout pass (~15 ms for 100,000 cells, the rows counted in C++: a new list is laid out
    before its first paint, which shows the current face where it is). Type-to-search is off:
    letters and digits are decision keys."""

    zoom_requested = Signal(int)  # +1 larger, -1 smaller

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setUniformItemSizes(True)
        self.setMovement(QListView.Movement.Static)
        self.setLayoutMode(QListView.LayoutMode.SinglePass)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setWrapping(True)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setDragEnabled(False)
        self.setSpacing(0)
        self.setMouseTracking(False)

    def scroll_to_current(self) -> None:
        """Bring the current cell on screen (scrollTo lays out a new list first: the view never
        paints the top of a list whose current face is further down)."""
        self.scrollTo(self.currentIndex())

    def keyboardSearch(self, search: str) -> None:  # noqa: N802 (Qt's name)
        pass

    def wheelEvent(self, event) -> None:  # noqa: N802
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom_requested.emit(1 if event.angleDelta().y() > 0 else -1)
            event.accept()
            return
        super().wheelEvent(event)

    def set_cell(self, size: QSize) -> None:
        self.setGridSize(size)
        self.setIconSize(size)
        self.verticalScrollBar().setSingleStep(max(8, size.height() // 4))

    def visible_rows(self) -> tuple[int, int]:
        """(first, last) row on screen; (-1, -1) when empty."""
        model = self.model()
        if model is None or model.rowCount() == 0:
            return -1, -1
        vp = self.viewport().rect()
        first = self.indexAt(vp.topLeft() + QPoint(2, 2))
        grid = self.gridSize()
        per_row = max(1, vp.width() // max(1, grid.width()))
        if not first.isValid():
            # Between cells (spacing): search the first row's cells.
            for dx in range(0, vp.width(), max(1, grid.width() // 2)):
                first = self.indexAt(vp.topLeft() + QPoint(dx + 2, grid.height() // 2))
                if first.isValid():
                    break
        if not first.isValid():
            return 0, min(model.rowCount() - 1, per_row * (vp.height() // max(1, grid.height()) + 1))
        rows_on_screen = vp.height() // max(1, grid.height()) + 2
        start = first.row() - first.row() % per_row
        return start, min(model.rowCount() - 1, start + per_row * rows_on_screen - 1)

    def current_persistent(self) -> QPersistentModelIndex:
        return QPersistentModelIndex(self.currentIndex())
