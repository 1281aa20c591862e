"""Undo and redo of every change made since the app opened, as steps of face edits (one key on
several selected faces is one step). Undoing is a new version-checked change, so a face someone
else changed meanwhile is a conflict, not an overwrite. No Qt here."""
from __future__ import annotations

from dataclasses import dataclass, field

from db.types import FaceDecision


@dataclass(frozen=True, slots=True)
class Edit:
    face_id: int
    before: tuple[str | None, str]  # (label, status)
    after: tuple[str | None, str]
    version: int  # the face's version once `after` was written


@dataclass(frozen=True, slots=True)
class Step:
    edits: tuple[Edit, ...] = ()
    rejected_images: tuple[int, ...] = ()  # images without a face that this step rejected

    def __bool__(self) -> bool:
        return bool(self.edits or self.rejected_images)


def undo_decisions(step: Step, context=None) -> list[FaceDecision]:
    """Back to each face's `before`, if it is still at the version this step left it at."""
    return [FaceDecision(e.face_id, e.version, label=e.before[0], status=e.before[1], context=context)
            for e in step.edits]


def redo_decisions(step: Step, context=None) -> list[FaceDecision]:
    return [FaceDecision(e.face_id, e.version, label=e.after[0], status=e.after[1], context=context)
            for e in step.edits]


def moved(step: Step, applied: dict[int, int]) -> Step:
    """The step to put on the other stack once `step` was undone (or redone): its edits that were
    applied, at their new versions. Edits that conflicted are dropped (the person was shown the
    conflict and decides)."""
    return Step(tuple(Edit(e.face_id, e.before, e.after, applied[e.face_id]) for e in step.edits
                      if e.face_id in applied), step.rejected_images)


@dataclass
class UndoStack:
    undo: list[Step] = field(default_factory=list)
    redo: list[Step] = field(default_factory=list)

    def push(self, step: Step) -> None:
        """A new change: it can be undone; what was undone before can no longer be redone. Every
        step is kept (a step of one face is ~0.5 kB: 100,000 decisions are ~50 MB)."""
        if step:
            self.undo.append(step)
            self.redo.clear()

    def pop_undo(self) -> Step | None:
        return self.undo.pop() if self.undo else None

    def pop_redo(self) -> Step | None:
        return self.redo.pop() if self.redo else None

    def undone(self, step: Step) -> None:
        """`step` (see moved) was undone: it can be redone."""
        if step:
            self.redo.append(step)

    def redone(self, step: Step) -> None:
        """`step` (see moved) was redone: it can be undone again, and other redos stay."""
        if step:
            self.undo.append(step)

    def depths(self) -> tuple[int, int]:
        return len(self.undo), len(self.redo)
