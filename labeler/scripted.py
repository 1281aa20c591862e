"""The labeler's decisions made by a script instead of a person's keys (the demo, tests, a batch
review): the same plan (labeler.decisions) and the same writer (labeler.writer) as the app's keys,
so the catalog sees exactly what a key press would write, version-checked, with the audit naming
the tool (`via`). No Qt here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from db.types import DecisionContext, FaceConflict, FaceRow
from labeler.decisions import Action, FaceState, plan
from labeler.writer import DecisionWriter, Job, WriteResult


@dataclass(frozen=True)
class Review:
    """What one scripted key press did."""

    applied: dict[int, tuple[str | None, str, int]]  # face id -> (label, status, version) now
    unchanged: list[int]  # already as the key would make them
    refused: dict[int, str]  # face id -> why the key does nothing to it (no label, no suggestion)
    conflicts: list[FaceConflict]  # changed by someone else since they were read: nothing written
    message: str | None  # the writer's error, if the catalog could not be written


def decide(catalog, faces: Sequence[FaceRow], action: Action | str, annotator: str, via: str,
           label: str | None = None, timeout_s: float = 120.0) -> Review:
    """Apply one key (`action`; a class key's `label`) to these faces, as the app does."""
    p = plan(Action(action), [FaceState(f.id, f.version, f.label, f.suggested_label, f.status.value) for f in faces],
             label)
    results: list[WriteResult] = []
    writer = DecisionWriter(catalog, annotator, results.append)
    try:
        if p.changes:
            context = DecisionContext(via=via)
            writer.submit(Job("decide", tuple(p.changes), {c.face_id: context for c in p.changes}))
        if not writer.wait_idle(timeout_s):
            raise TimeoutError(f"the catalog did not take {len(p.changes)} decisions within {timeout_s:.0f} s")
    finally:
        writer.close()
    r = results[0] if results else None
    return Review(dict(r.applied) if r else {}, p.unchanged, p.refused, list(r.conflicts) if r else [],
                  r.message if r else None)
