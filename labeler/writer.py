"""Every decision written at once, in order, off the GUI thread: a single writer thread with a queue.

The window shows a decision as pending when it is queued and as done only once its transaction has
committed (so a killed app loses nothing it showed as done). A catalog that cannot be reached (a
network failure, a lock held past the busy timeout) does not lose the queue: the writer retries with
backoff and says so. The undo stack lives here, on the writer's side of the queue, so an undo pressed
right after a decision undoes that decision even before the window has heard back. No Qt here.
"""
from __future__ import annotations

import itertools
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from db.errors import CatalogError, database_error_message
from db.types import DecisionContext, FaceConflict, FaceDecision
from labeler.decisions import Change
from labeler.undo import Edit, Step, UndoStack, moved, redo_decisions, undo_decisions

RETRY_S = (0.5, 1, 2, 4, 8, 10)  # waits between tries while the catalog cannot be reached


@dataclass(frozen=True)
class Job:
    kind: str  # "decide", "undo", "redo", "reject" (images without a face)
    changes: tuple[Change, ...] = ()
    contexts: dict[int, DecisionContext] = field(default_factory=dict)  # face id -> what was shown
    image_ids: tuple[int, ...] = ()
    id: int = 0


@dataclass(frozen=True)
class WriteResult:
    job: Job
    applied: dict[int, tuple[str | None, str, int]]  # face id -> (label, status, version) now
    conflicts: list[FaceConflict]
    images: dict[int, str]  # image id -> its extraction state now
    message: str | None  # for the status bar ("nothing to undo", an error)
    undo_depth: int
    redo_depth: int
    wanted: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # face id -> (label, status) asked for

    @property
    def faces(self) -> list[int]:
        """The faces this result is about (undo / redo select them)."""
        return sorted(self.applied) + [c.face_id for c in self.conflicts]


class DecisionWriter:
    """Writes jobs in the order submitted. on_result(WriteResult) and on_state(text or None: the
    catalog is reachable again) are called on the writer thread."""

    def __init__(self, catalog, annotator: str, on_result: Callable[[WriteResult], None],
                 on_state: Callable[[str | None], None] = lambda _msg: None):
        self.catalog = catalog
        self.annotator = annotator
        self.stack = UndoStack()
        self._on_result = on_result
        self._on_state = on_state
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._ids = itertools.count(1)
        self._moved: dict[int, dict[int, int]] = {}  # face id -> {version: version this writer made of it}
        self._pending = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="label-writer", daemon=True)
        self._thread.start()

    # --- the window's side ------------------------------------------------------------------------
    def submit(self, job: Job) -> Job:
        job = Job(job.kind, job.changes, job.contexts, job.image_ids, next(self._ids))
        with self._lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put(job)
        return job

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def wait_idle(self, timeout: float | None = None) -> bool:
        return self._idle.wait(timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Finish the queue (up to timeout seconds) and stop; True when everything was written."""
        done = self.wait_idle(timeout)
        self._closing = True
        self._queue.put(None)
        self._thread.join(timeout=1.0 if done else 0.1)
        return done

    # --- the writer thread ------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                result = self._execute(job)
            except Exception as exc:  # a bug must not kill the writer: say it, keep going
                u, r = self.stack.depths()
                result = WriteResult(job, {}, [], {}, f"could not write: {type(exc).__name__}: {exc}", u, r)
            with self._lock:
                self._pending -= 1
                if self._pending == 0:
                    self._idle.set()
            self._on_result(result)

    def _retrying(self, write: Callable):
        """Run a write, retrying while the catalog cannot be reached (nothing queued is dropped)."""
        waits = itertools.chain(RETRY_S, itertools.repeat(RETRY_S[-1]))
        failed = False
        while True:
            try:
                value = write()
                if failed:
                    self._on_state(None)
                return value
            except CatalogError:
                raise
            except (DBAPIError, SQLAlchemyError, OSError) as exc:
                if self._closing:
                    raise
                failed = True
                text = database_error_message(exc) if isinstance(exc, DBAPIError) else str(exc)
                self._on_state(f"cannot write to the catalog ({text}); {self.pending} change(s) waiting, retrying")
                time.sleep(next(waits))

    def _expected(self, face_id: int, version: int) -> int:
        """The version to expect: the one the person saw, moved along this writer's own later
        writes to the face (a decision queued before the window heard of the last one)."""
        chain = self._moved.get(face_id, {})
        seen = set()
        while version in chain and version not in seen:
            seen.add(version)
            version = chain[version]
        return version

    def _write(self, decisions: list[FaceDecision], targets: dict[int, tuple[str | None, str]]):
        decisions = [FaceDecision(d.face_id, self._expected(d.face_id, d.expected_version), d.label, d.status,
                                  d.context) for d in decisions]
        result = self._retrying(lambda: self.catalog.annotate_many(decisions, self.annotator))
        applied = dict(result.applied)
        conflicts = []
        expected = {d.face_id: d.expected_version for d in decisions}
        for c in result.conflicts:
            # A retry after a commit whose answer was lost finds our own change: that is applied.
            if (c.annotator == self.annotator and c.actual_version == expected[c.face_id] + 1
                    and (c.label, c.status) == targets[c.face_id]):
                applied[c.face_id] = c.actual_version
            else:
                conflicts.append(c)
        for fid, version in applied.items():
            self._moved.setdefault(fid, {})[expected[fid]] = version
        return applied, conflicts

    def _execute(self, job: Job) -> WriteResult:
        applied: dict[int, int] = {}
        conflicts: list[FaceConflict] = []
        images: dict[int, str] = {}
        targets: dict[int, tuple[str | None, str]] = {}
        message = None
        try:
            if job.kind == "decide":
                decisions = [FaceDecision(c.face_id, c.expected_version, label=c.after[0], status=c.after[1],
                                          context=job.contexts.get(c.face_id)) for c in job.changes]
                targets = {c.face_id: c.after for c in job.changes}
                applied, conflicts = self._write(decisions, targets)
                by_face = {c.face_id: c for c in job.changes}
                self.stack.push(Step(tuple(Edit(f, by_face[f].before, by_face[f].after, v)
                                           for f, v in sorted(applied.items()))))
            elif job.kind == "reject":
                changed = self._retrying(lambda: self.catalog.reject_images(job.image_ids))
                images = {i: "rejected" for i in changed}
                self.stack.push(Step(rejected_images=tuple(changed)))
            elif job.kind in ("undo", "redo"):
                step = self.stack.pop_undo() if job.kind == "undo" else self.stack.pop_redo()
                if step is None:
                    message = f"nothing to {job.kind}"
                else:
                    context = DecisionContext(via="labeler")
                    decisions = (undo_decisions if job.kind == "undo" else redo_decisions)(step, context)
                    targets = {e.face_id: (e.before if job.kind == "undo" else e.after) for e in step.edits}
                    if decisions:
                        applied, conflicts = self._write(decisions, targets)
                    if step.rejected_images:
                        if job.kind == "undo":
                            changed = self._retrying(lambda: self.catalog.restore_images(step.rejected_images))
                            images = {i: "no_face" for i in changed}
                        else:
                            changed = self._retrying(lambda: self.catalog.reject_images(step.rejected_images))
                            images = {i: "rejected" for i in changed}
                    (self.stack.undone if job.kind == "undo" else self.stack.redone)(moved(step, applied))
            else:
                raise ValueError(f"unknown job kind {job.kind!r}")
        except (CatalogError, SQLAlchemyError, OSError) as exc:
            message = f"not saved: {database_error_message(exc) if isinstance(exc, DBAPIError) else exc}"
        u, r = self.stack.depths()
        now = {f: (*targets[f], v) for f, v in applied.items()}
        return WriteResult(job, now, conflicts, images, message, u, r, targets)
