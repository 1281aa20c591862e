"""Review by a team on one catalog: decisions in bulk with version checks, claims on the faces an
app shows in the unreviewed queue, what changed since an app last looked, images with no face.

Claims never block a decision (annotate and annotate_many do not read them); they only keep a face
out of other apps' unreviewed queues (ReviewFilter.skip_claimed_by_others) until released or expired.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Sequence

from sqlalchemy import Date, cast, delete, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db import models as m
from db.annotations import _context_values
from db.browse import db_now
from db.errors import CatalogError
from db.types import (
    UNSET,
    BulkResult,
    Changes,
    ClaimResult,
    ExtractionState,
    FaceConflict,
    FaceDecision,
    ReviewProgress,
    Status,
)

_A, _E, _C, _I = m.annotations, m.label_events, m.face_claims, m.images
BATCH = 1000
CLAIM_TTL_S = 180  # a claim not renewed for this long lapses (an app that was killed, or left idle)


def _chunks(seq: Sequence, n: int = BATCH):
    for i in range(0, len(seq), n):
        yield list(seq[i : i + n])


class ReviewMixin:
    # --- decisions --------------------------------------------------------------------------------
    def annotate_many(self, decisions: Sequence[FaceDecision], annotator: str) -> BulkResult:
        """Apply several faces' decisions in one transaction, each with its version check.

        A decision whose face changed since its expected_version (or no longer exists) is refused and
        reported in `conflicts` with who changed the face last, when, and its current state; **the
        other decisions are applied** (each face is its own decision; the caller shows the conflicts
        and the person decides). An unknown class refuses the whole call before anything is written.
        Every applied change appends one label_events row with its context.
        """
        if len({d.face_id for d in decisions}) != len(decisions):
            raise CatalogError("annotate_many: a face appears twice in one call")
        known = set(self.class_names())
        bad = sorted({d.label for d in decisions if d.label is not UNSET and d.label is not None} - known)
        if bad:
            raise CatalogError(f"unknown class {bad[0]!r}; classes are: {', '.join(sorted(known))}")
        if not decisions:
            return BulkResult({}, [])
        ids = sorted(d.face_id for d in decisions)
        applied: dict[int, int] = {}
        conflicts: list[FaceConflict] = []
        with self._writing() as conn:
            current = {}
            stmt = select(_A.c.face_id, _A.c.label, _A.c.status, _A.c.version, _A.c.annotator, _A.c.updated_at,
                          _A.c.suggested_label)
            if conn.dialect.name == "postgresql":
                stmt = stmt.with_for_update()  # in id order: two bulk writers cannot deadlock
            for chunk in _chunks(ids):
                for r in conn.execute(stmt.where(_A.c.face_id.in_(chunk)).order_by(_A.c.face_id)).all():
                    current[r.face_id] = r
            now = m.utcnow()
            groups: dict[tuple, list[int]] = {}
            events = []
            for d in decisions:
                cur = current.get(d.face_id)
                if cur is None or cur.version != d.expected_version:
                    conflicts.append(FaceConflict(
                        d.face_id, d.expected_version, None if cur is None else cur.version,
                        *(() if cur is None else (cur.annotator, cur.updated_at, cur.label, cur.status,
                                                   cur.suggested_label))))
                    continue
                to_label = cur.label if d.label is UNSET else d.label
                to_status = cur.status if d.status is UNSET else Status(d.status).value
                groups.setdefault((to_label, to_status), []).append(d.face_id)
                applied[d.face_id] = cur.version + 1
                events.append({"face_id": d.face_id, "annotator": annotator, "at": now,
                               "from_label": cur.label, "to_label": to_label, "from_status": cur.status,
                               "to_status": to_status, "version": cur.version + 1, **_empty_context(),
                               **_context_values(d.context)})
            # Rows are locked (PostgreSQL) or the write lock held (SQLite): version + 1 is each's new one.
            for (to_label, to_status), fids in groups.items():
                for chunk in _chunks(sorted(fids)):
                    conn.execute(update(_A).where(_A.c.face_id.in_(chunk)).values(
                        label=to_label, status=to_status, annotator=annotator, updated_at=now,
                        version=_A.c.version + 1))
            if events:
                conn.execute(insert(_E), events)
        return BulkResult(applied, conflicts)

    # --- claims -----------------------------------------------------------------------------------
    def claim_faces(self, holder: str, face_ids: Sequence[int], annotator: str | None = None,
                    ttl_s: float = CLAIM_TTL_S, replace: bool = True) -> ClaimResult:
        """Claim these faces for one running app (`holder`, a random id per app) for ttl_s seconds.

        A face already claimed by this holder is renewed; one with another holder's live claim is
        not taken (held_by_others says whose). With replace, this holder's claims on other faces
        are released (an app claims what it shows now). Expired claims are removed on the way.
        One transaction; two apps claiming the same faces at once get disjoint sets.
        """
        ids = sorted(set(face_ids))
        with self._writing() as conn:
            now = db_now(conn)
            conn.execute(delete(_C).where(_C.c.expires_at <= now))
            if replace:
                mine = set(conn.execute(select(_C.c.face_id).where(_C.c.holder == holder)).scalars())
                for chunk in _chunks(sorted(mine - set(ids))):
                    conn.execute(delete(_C).where(_C.c.holder == holder, _C.c.face_id.in_(chunk)))
            expires = now + timedelta(seconds=ttl_s)
            ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            granted: list[int] = []
            others: dict[int, str | None] = {}
            for chunk in _chunks(ids):
                # Only faces that still exist (a deleted face's claim would break its foreign key).
                existing = list(conn.execute(select(m.faces.c.id).where(m.faces.c.id.in_(chunk))).scalars())
                if existing:
                    stmt = ins(_C)
                    stmt = stmt.on_conflict_do_update(
                        index_elements=["face_id"],
                        set_={"holder": stmt.excluded.holder, "annotator": stmt.excluded.annotator,
                              "expires_at": stmt.excluded.expires_at},
                        where=(_C.c.holder == stmt.excluded.holder) | (_C.c.expires_at <= now),
                    )
                    conn.execute(stmt, [{"face_id": f, "holder": holder, "annotator": annotator,
                                         "expires_at": expires} for f in sorted(existing)])
                for fid, h, who in conn.execute(select(_C.c.face_id, _C.c.holder, _C.c.annotator)
                                                .where(_C.c.face_id.in_(chunk))).all():
                    if h == holder:
                        granted.append(fid)
                    else:
                        others[fid] = who
        return ClaimResult(sorted(granted), others)

    def renew_claims(self, holder: str, ttl_s: float = CLAIM_TTL_S) -> int:
        """Extend every live claim of this holder by ttl_s from now; returns how many."""
        with self._writing() as conn:
            now = db_now(conn)
            return conn.execute(update(_C).where(_C.c.holder == holder, _C.c.expires_at > now)
                                .values(expires_at=now + timedelta(seconds=ttl_s))).rowcount

    def release_claims(self, holder: str, face_ids: Sequence[int] | None = None) -> int:
        """Release this holder's claims (on these faces, or all); returns how many."""
        with self._writing() as conn:
            if face_ids is None:
                return conn.execute(delete(_C).where(_C.c.holder == holder)).rowcount
            n = 0
            for chunk in _chunks(sorted(set(face_ids))):
                n += conn.execute(delete(_C).where(_C.c.holder == holder, _C.c.face_id.in_(chunk))).rowcount
            return n

    def expire_claims(self) -> int:
        """Remove lapsed claims (claim_faces does it too); returns how many."""
        with self._writing() as conn:
            return conn.execute(delete(_C).where(_C.c.expires_at <= db_now(conn))).rowcount

    def live_claims(self, face_ids: Sequence[int] | None = None) -> dict[int, tuple[str, str | None]]:
        """Live claims: face id -> (holder, annotator)."""
        with self._reading() as conn:
            stmt = select(_C.c.face_id, _C.c.holder, _C.c.annotator).where(_C.c.expires_at > db_now(conn))
            if face_ids is None:
                return {f: (h, a) for f, h, a in conn.execute(stmt).all()}
            out = {}
            for chunk in _chunks(sorted(set(face_ids))):
                out.update({f: (h, a) for f, h, a in conn.execute(stmt.where(_C.c.face_id.in_(chunk))).all()})
            return out

    # --- what changed -----------------------------------------------------------------------------
    def change_marks(self) -> tuple[int, int]:
        """(newest label event id, newest face id): where an app starts watching for changes."""
        with self._reading() as conn:
            return (conn.execute(select(func.coalesce(func.max(_E.c.id), 0))).scalar_one(),
                    conn.execute(select(func.coalesce(func.max(m.faces.c.id), 0))).scalar_one())

    def changes_since(self, event_id: int, face_id: int, limit: int = 10_000) -> Changes:
        """Label events after event_id (the faces they changed, with their newest version) and faces
        added after face_id. PostgreSQL may commit ids out of order (an id can appear after a higher
        one was seen): callers that must miss nothing ask again from a little before their mark and
        compare versions (the labeler does)."""
        with self._reading() as conn:
            rows = conn.execute(select(_E.c.id, _E.c.face_id, _E.c.version).where(_E.c.id > event_id)
                                .order_by(_E.c.id).limit(limit)).all()
            new_faces = list(conn.execute(select(m.faces.c.id).where(m.faces.c.id > face_id).order_by(m.faces.c.id)
                                          .limit(limit)).scalars())
        changed: dict[int, int] = {}
        for _, fid, version in rows:
            changed[fid] = max(version, changed.get(fid, 0))
        return Changes(event_id=max([event_id] + [r[0] for r in rows]),
                       face_id=max([face_id] + new_faces), changed=changed, new_faces=new_faces)

    def review_progress(self) -> list[ReviewProgress]:
        """Decisions (label events) per annotator and day, oldest day first."""
        with self._reading() as conn:
            day = func.date(_E.c.at) if conn.dialect.name == "sqlite" else cast(_E.c.at, Date)
            rows = conn.execute(select(_E.c.annotator, day, func.count()).group_by(_E.c.annotator, day)
                                .order_by(day, _E.c.annotator)).all()
        return [ReviewProgress(a, str(d)[:10], n) for a, d, n in rows]

    # --- images where no face was found -----------------------------------------------------------
    def reject_images(self, image_ids: Sequence[int]) -> list[int]:
        """Mark images without a face as rejected by a person (kept, restorable: their download
        record and blob stay, so a scrape never fetches them again). Only `no_face` images change;
        returns those that did."""
        return self._move_images(image_ids, ExtractionState.NO_FACE, ExtractionState.REJECTED)

    def restore_images(self, image_ids: Sequence[int]) -> list[int]:
        """Undo reject_images: rejected images are `no_face` again; returns those that changed."""
        return self._move_images(image_ids, ExtractionState.REJECTED, ExtractionState.NO_FACE)

    def _move_images(self, image_ids: Sequence[int], old: ExtractionState, new: ExtractionState) -> list[int]:
        changed: list[int] = []
        with self._writing() as conn:
            for chunk in _chunks(sorted(set(image_ids))):
                hit = list(conn.execute(select(_I.c.id).where(_I.c.id.in_(chunk), _I.c.extraction_state == old.value))
                           .scalars())
                if hit:
                    conn.execute(update(_I).where(_I.c.id.in_(hit)).values(extraction_state=new.value))
                changed += hit
        return changed


def _empty_context() -> dict:
    return {"via": None, "model_id": None, "predicted_label": None, "predicted_confidence": None}
