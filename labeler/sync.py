"""Changes made elsewhere (another annotator, a `curate` run) reaching an open window: poll the
catalog's label events and new faces every few seconds. No Qt here."""
from __future__ import annotations

from dataclasses import dataclass

POLL_S = 2.0
# PostgreSQL hands out ids when a row is inserted but a transaction commits later: an event with a
# lower id can appear after a higher one was seen. Every poll reads again from this far back and
# the window keeps only versions it has not shown.
OVERLAP = 500


@dataclass(frozen=True)
class Update:
    changed: dict[int, int]  # face id -> newest version seen in the catalog
    new_faces: list[int]


class ChangeWatcher:
    def __init__(self, catalog):
        self.catalog = catalog
        self.event_mark, self.face_mark = catalog.change_marks()
        self._first_face_mark = self.face_mark  # faces up to it were there at the start: not new
        self._seen_faces: set[int] = set()

    def poll(self) -> Update:
        changes = self.catalog.changes_since(max(0, self.event_mark - OVERLAP), max(0, self.face_mark - OVERLAP))
        new = [f for f in changes.new_faces if f > self._first_face_mark and f not in self._seen_faces]  # each once
        self._seen_faces.update(new)
        if len(self._seen_faces) > 4 * OVERLAP:  # only the overlap window needs remembering
            floor = changes.face_id - OVERLAP
            self._seen_faces = {f for f in self._seen_faces if f > floor}
        self.event_mark = max(self.event_mark, changes.event_id)
        self.face_mark = max(self.face_mark, changes.face_id)
        return Update(changes.changed, new)
