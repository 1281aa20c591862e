"""The conflict bar: a decision refused because someone else changed the face first. It says who,
when and what the face is now, and the person decides: keep theirs, or apply theirs over with mine.
Nothing is overwritten without that choice."""
from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton

from db.types import FaceConflict
from labeler.style import local_time


@dataclass(frozen=True)
class Pending:
    conflict: FaceConflict
    mine: tuple[str | None, str]  # (label, status) this app wanted


def conflict_text(p: Pending) -> str:
    c = p.conflict
    if c.actual_version is None:
        return f"Face {c.face_id} no longer exists (removed by a re-extraction?): your change was not applied."
    when = f"{local_time(c.at):%Y-%m-%d %H:%M:%S}" if c.at else "just now"
    theirs = f"{c.label or 'no label'} · {c.status}"
    mine = f"{p.mine[0] or 'no label'} · {p.mine[1]}"
    return (f"Face {c.face_id} was changed by <b>{html.escape(c.annotator or 'someone')}</b> at {when}: "
            f"it is now <b>{html.escape(theirs)}</b>; yours, <b>{html.escape(mine)}</b>, was not applied.")


class ConflictBar(QFrame):
    keep_theirs = Signal(object)  # Pending
    apply_mine = Signal(object)
    show_face = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.queue: list[Pending] = []
        self.setObjectName("conflictbar")
        self.setStyleSheet("#conflictbar { background:#fff4d6; border:1px solid #e0b440; }")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.count = QLabel()
        self.count.setStyleSheet("color:#7a5b00")
        self.show_button = QPushButton("&Show it")
        self.theirs_button = QPushButton("&Keep theirs")
        self.mine_button = QPushButton("Apply &mine")
        for b in (self.show_button, self.theirs_button, self.mine_button):
            b.setAutoDefault(False)
        lay.addWidget(QLabel("⚠"))
        lay.addWidget(self.text, 1)
        lay.addWidget(self.count)
        lay.addWidget(self.show_button)
        lay.addWidget(self.theirs_button)
        lay.addWidget(self.mine_button)
        self.show_button.clicked.connect(lambda: self.queue and self.show_face.emit(self.queue[0].conflict.face_id))
        self.theirs_button.clicked.connect(lambda: self._resolve(self.keep_theirs))
        self.mine_button.clicked.connect(lambda: self._resolve(self.apply_mine))
        self.hide()

    def add(self, pending: Pending) -> None:
        self.queue = [p for p in self.queue if p.conflict.face_id != pending.conflict.face_id] + [pending]
        self._show()

    def _resolve(self, signal) -> None:
        if self.queue:
            signal.emit(self.queue.pop(0))
        self._show()

    def _show(self) -> None:
        if not self.queue:
            self.hide()
            return
        first = self.queue[0]
        self.text.setText(conflict_text(first))
        self.count.setText(f"1 of {len(self.queue)}" if len(self.queue) > 1 else "")
        self.mine_button.setEnabled(first.conflict.actual_version is not None)
        self.show()
