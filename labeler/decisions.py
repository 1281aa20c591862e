"""What a key does to the selected faces: the label and status each gets, or why it gets none.
Plain data in and out; the window turns the changes into a version-checked write."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Sequence

from db.types import Status


class Action(str, enum.Enum):
    LABEL = "label"  # a class key: that label, confirmed
    CONFIRM = "confirm"  # Enter / Space: confirmed as it stands (its label, else its suggestion)
    DELETE = "delete"  # Delete / X: deleted (soft; a class key or undo brings it back)
    UNCERTAIN = "uncertain"  # U


@dataclass(frozen=True)
class FaceState:
    """What the person sees of a face: its version and annotation."""

    face_id: int
    version: int
    label: str | None
    suggested_label: str | None
    status: str


@dataclass(frozen=True)
class Change:
    """One face's new label and status, based on the version the person saw."""

    face_id: int
    expected_version: int
    before: tuple[str | None, str]  # (label, status) as seen
    after: tuple[str | None, str]


@dataclass(frozen=True)
class Plan:
    changes: list[Change]
    unchanged: list[int]  # already as the key would make them: nothing to write
    refused: dict[int, str]  # face id -> why the key does nothing to it

    def message(self) -> str | None:
        """One line for the status bar when some faces were left as they were, else None."""
        if not self.refused:
            return None
        reasons = sorted(set(self.refused.values()))
        n = len(self.refused)
        head = f"face {next(iter(self.refused))}" if n == 1 else f"{n} faces"
        return f"{head} not changed: {'; '.join(reasons)}"


NO_LABEL = "it has no label and no suggestion: press a class key"


def plan(action: Action, faces: Sequence[FaceState], label: str | None = None) -> Plan:
    """The changes `action` makes to these faces (label: the class of a class key)."""
    action = Action(action)
    if action is Action.LABEL and not label:
        raise ValueError("a class key needs its class")
    changes: list[Change] = []
    unchanged: list[int] = []
    refused: dict[int, str] = {}
    for f in faces:
        if action is Action.LABEL:
            after = (label, Status.CONFIRMED.value)
        elif action is Action.CONFIRM:
            own = f.label or f.suggested_label
            if own is None:
                refused[f.face_id] = NO_LABEL
                continue
            after = (own, Status.CONFIRMED.value)
        elif action is Action.DELETE:
            after = (f.label, Status.DELETED.value)
        else:
            after = (f.label, Status.UNCERTAIN.value)
        before = (f.label, Status(f.status).value)
        if after == before:
            unchanged.append(f.face_id)
        else:
            changes.append(Change(f.face_id, f.version, before, after))
    return Plan(changes, unchanged, refused)
