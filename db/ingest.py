"""Writing into the catalog: sources, images, download outcomes, faces and extraction results."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import JSON, delete, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from db import models as m
from db.types import (
    DownloadRecord,
    DownloadStatus,
    ExtractionResult,
    ExtractionState,
    ImageRef,
    ImageTask,
    NewFace,
    NewImage,
    NewSource,
    SourceInfo,
    Status,
)

BATCH = 1000  # rows per statement: under SQLite's variable limit, large enough to amortise round trips


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()


def _row(record) -> dict:
    """A dataclass as a column dict; shallow, unlike dataclasses.asdict, which deep-copies (slow in bulk)."""
    return dict(record.__dict__)


def _chunks(seq: Sequence, n: int = BATCH) -> Iterable[Sequence]:
    for i in range(0, len(seq), n):
        yield seq[i : i + n]


@dataclass(frozen=True)
class ExtractionSaved:
    face_ids: list[int]  # the new faces, in the order given
    kept_face_ids: list[int]  # --redo: earlier faces kept as they were (labeled, reviewed or pre-cropped)
    extracted_elsewhere: bool = False  # not a redo, and another run extracted the image first: nothing stored


def _next_ids(conn, table, n: int) -> list[int]:
    """PostgreSQL: n new ids from the table's sequence, so rows can be inserted without RETURNING."""
    return list(conn.execute(
        text("SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"),
        {"t": table.name, "n": n},
    ).scalars())


def insert_rows(conn, table, rows: Sequence[dict]) -> None:
    """Bulk insert. With psycopg 3 the rows are COPYed (faces carry 5 KB crops: COPY streams them
    without per-row statements); elsewhere a plain executemany."""
    if conn.dialect.driver == "psycopg":
        _copy_rows(conn, table, rows)
    else:
        conn.execute(insert(table), rows)


def insert_returning_ids(conn, table, rows: Sequence[dict]) -> list[int]:
    """Insert rows, returning their new ids in order.

    PostgreSQL: ids come from the sequence first, then a bulk insert; a multi-row INSERT ... RETURNING
    costs more in client-side query parsing than the insert itself.
    """
    if conn.dialect.name == "postgresql":
        ids = _next_ids(conn, table, len(rows))
        insert_rows(conn, table, [{**r, "id": i} for r, i in zip(rows, ids)])
        return ids
    return list(conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


def _copy_rows(conn, table, rows: Sequence[dict]) -> None:
    """COPY rows into the table, inside the connection's own transaction. Column defaults
    are applied here, since COPY bypasses SQLAlchemy's."""
    from psycopg.types.json import Json  # only imported where psycopg is the driver in use

    columns = [c for c in table.columns if c.name in rows[0] or c.default is not None]
    raw = conn.connection.dbapi_connection
    names = ", ".join(f'"{c.name}"' for c in columns)
    with raw.cursor() as cur, cur.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
        for row in rows:
            values = []
            for c in columns:
                if c.name in row:
                    v = row[c.name]
                else:
                    v = c.default.arg(None) if c.default.is_callable else c.default.arg
                values.append(Json(v) if isinstance(c.type, JSON) and v is not None else v)
            copy.write_row(values)


class IngestMixin:
    # --- sources -------------------------------------------------------------------------------
    def add_source(self, source: NewSource) -> int:
        with self._writing() as conn:
            return conn.execute(insert(m.sources).returning(m.sources.c.id), [_row(source)]).scalar_one()

    def find_or_add_source(self, source: NewSource) -> tuple[int, bool]:
        """(id, created): the most recent source of that kind and name, else a new one. Two commands
        starting at once get the same source (SQLite: one writer at a time; PostgreSQL: a
        transaction lock on the kind and name)."""
        with self._writing() as conn:
            if conn.dialect.name == "postgresql":
                key = int.from_bytes(hashlib.sha256(f"{source.kind}\0{source.name}".encode()).digest()[:8], "big",
                                     signed=True)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            found = conn.execute(
                select(m.sources.c.id).where(m.sources.c.kind == source.kind, m.sources.c.name == source.name)
                .order_by(m.sources.c.id.desc()).limit(1)
            ).scalar()
            if found is not None:
                return found, False
            return conn.execute(insert(m.sources).returning(m.sources.c.id), [_row(source)]).scalar_one(), True

    def find_source(self, kind: str, name: str) -> SourceInfo | None:
        """The most recent source of that kind and name (idempotent imports look themselves up here)."""
        with self._reading() as conn:
            row = conn.execute(
                select(m.sources)
                .where(m.sources.c.kind == kind, m.sources.c.name == name)
                .order_by(m.sources.c.id.desc())
                .limit(1)
            ).first()
        return SourceInfo(**row._asdict()) if row else None

    def sources(self) -> list[SourceInfo]:
        with self._reading() as conn:
            rows = conn.execute(select(m.sources).order_by(m.sources.c.id)).all()
        return [SourceInfo(**r._asdict()) for r in rows]

    # --- images --------------------------------------------------------------------------------
    def add_images(self, images: Sequence[NewImage]) -> list[ImageRef]:
        """Add images whose bytes are in the blob store. An sha256 already present is not added
        again: its ref says created=False and points at the existing image."""
        with self._writing() as conn:
            return self._insert_images(conn, images)

    def _insert_images(self, conn, images: Sequence[NewImage]) -> list[ImageRef]:
        if conn.dialect.name != "postgresql":
            return self._insert_images_in_order(conn, images)
        # Two writers inserting shared rows in different orders could deadlock on each other's
        # uncommitted rows: everyone inserts in sha256 order. The sort is stable, so of equal bytes
        # the first in input order is still the one that creates the image.
        order = sorted(range(len(images)), key=lambda i: images[i].sha256)
        by_position = dict(zip(order, self._insert_images_in_order(conn, [images[i] for i in order])))
        return [by_position[i] for i in range(len(images))]

    def _insert_images_in_order(self, conn, images: Sequence[NewImage]) -> list[ImageRef]:
        refs: list[ImageRef] = []
        for chunk in _chunks(images):
            shas = [im.sha256 for im in chunk]
            existing = dict(
                conn.execute(select(m.images.c.sha256, m.images.c.id).where(m.images.c.sha256.in_(shas))).all()
            )
            new_rows, seen = [], {}
            for im in chunk:
                if im.sha256 not in existing and im.sha256 not in seen:
                    seen[im.sha256] = len(new_rows)
                    new_rows.append({**_row(im), "extraction_state": ExtractionState.PENDING.value})
            if conn.dialect.name == "postgresql" and new_rows:
                created_ids = self._insert_images_pg(conn, new_rows)
                for sha in seen.keys() - created_ids.keys():  # another writer added it meanwhile
                    existing[sha] = conn.execute(select(m.images.c.id).where(m.images.c.sha256 == sha)).scalar_one()
            else:
                new_ids = insert_returning_ids(conn, m.images, new_rows) if new_rows else []
                created_ids = {sha: new_ids[i] for sha, i in seen.items()}
            handed_out: set[str] = set()
            for im in chunk:
                if im.sha256 in created_ids and im.sha256 not in handed_out:
                    handed_out.add(im.sha256)
                    refs.append(ImageRef(created_ids[im.sha256], im.sha256, True))
                else:
                    iid = existing.get(im.sha256, created_ids.get(im.sha256))
                    refs.append(ImageRef(iid, im.sha256, False))
        return refs

    @staticmethod
    def _insert_images_pg(conn, rows: list[dict]) -> dict[str, int]:
        """PostgreSQL: two writers may add the same bytes at once (READ COMMITTED sees neither's row
        before inserting). ON CONFLICT DO NOTHING lets the first win; returns sha256 -> id of the rows
        this call created. SQLite needs none of this: its writers hold the write lock throughout."""
        ids = _next_ids(conn, m.images, len(rows))
        conn.execute(pg_insert(m.images).on_conflict_do_nothing(index_elements=["sha256"]),
                     [{**r, "id": i} for r, i in zip(rows, ids)])
        mine = set(ids)
        found = conn.execute(select(m.images.c.sha256, m.images.c.id).where(m.images.c.sha256.in_([r["sha256"] for r in rows])))
        return {sha: iid for sha, iid in found if iid in mine}

    def add_image(self, image: NewImage) -> ImageRef:
        return self.add_images([image])[0]

    # --- download outcomes ---------------------------------------------------------------------
    def record_downloads(self, records: Sequence[DownloadRecord]) -> None:
        if records:
            with self._writing() as conn:
                self._insert_downloads(conn, records)

    def add_downloads(self, outcomes: Sequence[tuple[DownloadRecord, NewImage | None]]) -> list[DownloadRecord]:
        """Record URL outcomes together with the images of the successful ones, in one transaction, so
        a killed run leaves both or neither. An image whose sha256 is already in the catalog turns its
        record into a duplicate of that image. Returns the records as stored."""
        with self._writing() as conn:
            images = [im for _, im in outcomes if im is not None]
            refs = iter(self._insert_images(conn, images))
            stored: list[DownloadRecord] = []
            for record, image in outcomes:
                if image is not None:
                    ref = next(refs)
                    record = replace(record, image_id=ref.id)
                    if not ref.created:
                        record = replace(record, status=DownloadStatus.DUPLICATE,
                                         detail=f"same sha256 as image {ref.id}")
                stored.append(record)
            self._insert_downloads(conn, stored)
        return stored

    def _insert_downloads(self, conn, records: Sequence[DownloadRecord]) -> None:
        rows = [{**_row(r), "status": DownloadStatus(r.status).value, "url_sha256": url_hash(r.url)}
                for r in records]
        for chunk in _chunks(rows):
            conn.execute(insert(m.downloads), list(chunk))

    def tried_urls(self, urls: Iterable[str]) -> set[str]:
        """The URLs among these that some earlier run already tried (whatever came of it)."""
        by_hash = {url_hash(u): u for u in urls}
        found: set[str] = set()
        hashes = list(by_hash)
        with self._reading() as conn:
            for chunk in _chunks(hashes):
                for h in conn.execute(select(m.downloads.c.url_sha256).where(m.downloads.c.url_sha256.in_(chunk))).scalars():
                    found.add(by_hash[h])
        return found

    # --- extraction ----------------------------------------------------------------------------
    def images_to_extract(
        self,
        sources: Sequence[str] | None = None,
        queries: Sequence[str] | None = None,
        redo: bool = False,
    ) -> list[ImageTask]:
        """Images still pending (with redo: every image) from these sources / queries."""
        stmt = select(
            m.images.c.id, m.images.c.sha256, m.images.c.blob_path, m.images.c.width, m.images.c.height,
            m.images.c.label, m.images.c.suggested_label, m.images.c.split_hint,
        ).order_by(m.images.c.id)
        if not redo:
            stmt = stmt.where(m.images.c.extraction_state == ExtractionState.PENDING.value)
        else:  # a person rejected it (no face, and not wanted): a re-run does not bring it back
            stmt = stmt.where(m.images.c.extraction_state != ExtractionState.REJECTED.value)
        if sources:
            stmt = stmt.join(m.sources, m.sources.c.id == m.images.c.source_id).where(m.sources.c.name.in_(sources))
        if queries:
            stmt = stmt.where(m.images.c.query.in_(queries))
        with self._reading() as conn:
            return [ImageTask(*r) for r in conn.execute(stmt).all()]

    def add_faces(self, items: Sequence[tuple[int, NewFace]]) -> list[int]:
        """Add faces (image id, face) with their annotations, in bulk; returns the face ids in order."""
        with self._writing() as conn:
            return self._insert_faces(conn, items)

    def add_images_with_faces(self, pairs: Sequence[tuple[NewImage, NewFace | None]]) -> list[ImageRef | None]:
        """A dataset's pictures that are faces already (--crop none): each image with its face, in one
        transaction, so a killed import leaves both or neither. Byte-identical pictures share one
        image and each keeps its own face. Images created here are marked extracted (FACES); an image
        that was already in the catalog keeps its own state (a scraped photo still gets detected).
        A face whose source already has a face of that dataset path (another import of the same
        dataset, running at the same time) is not added again: its pair gives None."""
        with self._writing() as conn:
            done = self._imported_already(conn, [face for _, face in pairs if face is not None])
            todo = [i for i, (_, face) in enumerate(pairs) if face is None or (face.source_id, face.dataset_path) not in done]
            out: list[ImageRef | None] = [None] * len(pairs)
            pairs = [pairs[i] for i in todo]
            refs = self._insert_images(conn, [image for image, _ in pairs])
            self._insert_faces(conn, [(ref.id, face) for ref, (_, face) in zip(refs, pairs) if face is not None])
            created = sorted({ref.id for ref, (_, face) in zip(refs, pairs) if ref.created and face is not None})
            for chunk in _chunks(created):
                conn.execute(
                    update(m.images).where(m.images.c.id.in_(chunk)).values(extraction_state=ExtractionState.FACES.value)
                )
        for i, ref in zip(todo, refs):
            out[i] = ref
        return out

    @staticmethod
    def _imported_already(conn, faces: Sequence[NewFace]) -> set[tuple[int, str]]:
        """(source id, dataset path) of these faces that their source has already."""
        keys = {(f.source_id, f.dataset_path) for f in faces if f.source_id is not None and f.dataset_path is not None}
        if not keys:
            return set()
        sources = sorted({s for s, _ in keys})
        # PostgreSQL: two imports of one source take turns here, so each sees the other's faces
        # (SQLite's writers hold the write lock throughout).
        conn.execute(select(m.sources.c.id).where(m.sources.c.id.in_(sources)).with_for_update(key_share=True))
        found: set[tuple[int, str]] = set()
        for chunk in _chunks(sorted({p for _, p in keys})):
            rows = conn.execute(select(m.faces.c.source_id, m.faces.c.dataset_path)
                                .where(m.faces.c.source_id.in_(sources), m.faces.c.dataset_path.in_(chunk)))
            found.update((s, p) for s, p in rows)
        return found & keys

    def save_extraction(
        self,
        image_id: int,
        state: ExtractionState,
        faces: Sequence[NewFace] = (),
        error: str | None = None,
        replace: bool = False,
        carry_annotations: Mapping[int, int] | None = None,
    ) -> ExtractionSaved:
        """Store one image's extraction result in one transaction.

        replace (a --redo): the image's earlier detected faces give way to the new ones, except what
        must never be lost. That is decided here, inside the transaction, so a label saved by someone
        else meanwhile counts: an old face carried into a new one (carry_annotations maps a new
        face's index to the old face's id: the new face takes its label, status, version and
        history); an old face with a label or a review that is not carried (kept as it was); and a
        dataset's own pre-cropped face (detector "none"), which detection does not replace.
        """
        if not replace:
            return self.save_extractions([ExtractionResult(image_id, state, list(faces), error)])[0]
        with self._writing() as conn:
            # Two --redo runs on one image take turns (PostgreSQL; SQLite has one writer anyway):
            # otherwise the second may miss the first's new faces and add its own beside them.
            conn.execute(select(m.images.c.id).where(m.images.c.id == image_id).with_for_update(key_share=True))
            old: dict[int, Any] = {
                r.id: r
                for r in conn.execute(
                    select(m.faces.c.id, m.faces.c.detector, m.annotations.c.label, m.annotations.c.status,
                           m.annotations.c.annotator, m.annotations.c.updated_at, m.annotations.c.version)
                    .join(m.annotations, m.annotations.c.face_id == m.faces.c.id)
                    .where(m.faces.c.image_id == image_id)
                    .with_for_update()  # PostgreSQL: a concurrent annotate waits for us
                ).all()
            }
            carry = {i: oid for i, oid in (carry_annotations or {}).items()
                     if oid in old and old[oid].detector != "none"}
            carried = set(carry.values())
            kept = [oid for oid, r in old.items() if oid not in carried and (
                r.detector == "none" or r.label is not None or r.status != Status.UNREVIEWED.value or r.version > 1)]
            ids = self._insert_faces(conn, [(image_id, f) for f in faces])
            for new_index, old_id in carry.items():
                r = old[old_id]
                conn.execute(
                    update(m.annotations)
                    .where(m.annotations.c.face_id == ids[new_index])
                    .values(label=r.label, status=r.status, annotator=r.annotator, updated_at=r.updated_at,
                            version=r.version)
                )
                # The history follows the face (deleting the old face would cascade to its events).
                conn.execute(update(m.label_events).where(m.label_events.c.face_id == old_id).values(face_id=ids[new_index]))
            conn.execute(delete(m.faces).where(m.faces.c.id.in_([oid for oid in old if oid not in kept])))
            if kept and not faces and state is not ExtractionState.UNREADABLE:
                state = ExtractionState.FACES
            conn.execute(
                update(m.images)
                .where(m.images.c.id == image_id)
                .values(extraction_state=ExtractionState(state).value, extraction_error=error)
            )
        return ExtractionSaved(face_ids=ids, kept_face_ids=kept)

    def save_extractions(self, results: Sequence[ExtractionResult]) -> list[ExtractionSaved]:
        """Store many images' extraction results (not a --redo) in one transaction; one
        ExtractionSaved per result, in order. Each image is claimed as save_extraction claims it:
        only an image still pending is stored, so two runs (or a Ray task done twice) that both
        extracted it store it once; the later gets extracted_elsewhere and adds nothing."""
        if not results:
            return []
        with self._writing() as conn:
            ids = sorted({r.image_id for r in results})
            claimed: set[int] = set()
            for chunk in _chunks(ids):
                # Locked in id order (PostgreSQL: two writers never deadlock; the second waits for the
                # first's commit, then sees those images extracted and leaves them out).
                claimed.update(conn.execute(
                    select(m.images.c.id)
                    .where(m.images.c.id.in_(chunk), m.images.c.extraction_state == ExtractionState.PENDING.value)
                    .order_by(m.images.c.id).with_for_update()
                ).scalars())
            mine, taken = [], set()
            for r in results:
                if r.image_id in claimed and r.image_id not in taken:
                    taken.add(r.image_id)
                    mine.append(r)
            by_outcome: dict[tuple[str, str | None], list[int]] = {}
            for r in mine:
                by_outcome.setdefault((ExtractionState(r.state).value, r.error), []).append(r.image_id)
            for (state, error), image_ids in by_outcome.items():
                for chunk in _chunks(image_ids):
                    conn.execute(update(m.images).where(m.images.c.id.in_(chunk))
                                 .values(extraction_state=state, extraction_error=error))
            face_ids = iter(self._insert_faces(conn, [(r.image_id, f) for r in mine for f in r.faces]))
            saved = {id(r): ExtractionSaved([next(face_ids) for _ in r.faces], []) for r in mine}
        elsewhere = ExtractionSaved(face_ids=[], kept_face_ids=[], extracted_elsewhere=True)
        return [saved.get(id(r), elsewhere) for r in results]

    def _insert_faces(self, conn, items: Sequence[tuple[int, NewFace]]) -> list[int]:
        ids: list[int] = []
        for chunk in _chunks(items):
            face_rows, ann_rows = [], []
            # A face's provenance defaults to its image's (see the faces table's source_id in db.models).
            origin = {
                r.id: r for r in conn.execute(
                    select(m.images.c.id, m.images.c.source_id, m.images.c.dataset_path)
                    .where(m.images.c.id.in_(sorted({image_id for image_id, _ in chunk})))
                )
            }
            for image_id, f in chunk:
                left, top, width, height = f.bbox
                face_rows.append(
                    {
                        "image_id": image_id, "bbox_left": left, "bbox_top": top,
                        "bbox_width": width, "bbox_height": height,
                        "landmarks": [list(p) for p in f.landmarks] if f.landmarks else None,
                        "detector": f.detector, "score": f.score, "crop_size": f.crop_size,
                        "crop_png": f.crop_png, "phash": f.phash, "pixel_sha256": f.pixel_sha256,
                        "settings": f.settings,
                        "source_id": f.source_id or origin[image_id].source_id,
                        "dataset_path": f.dataset_path or origin[image_id].dataset_path,
                        "stored_size": f.stored_size if f.stored_size not in (None, f.crop_size) else None,
                    }
                )
            chunk_ids = insert_returning_ids(conn, m.faces, face_rows)
            for fid, (_, f) in zip(chunk_ids, chunk):
                ann_rows.append(
                    {
                        "face_id": fid, "label": f.label, "status": getattr(f.status, "value", f.status),
                        "suggested_label": f.suggested_label, "split_hint": f.split_hint, "version": 1,
                    }
                )
            insert_rows(conn, m.annotations, ann_rows)
            ids.extend(chunk_ids)
        return ids

    def set_duplicate_groups(self, groups: Mapping[int, int | None], clear_others: bool = True) -> None:
        """Set each face's duplicate group (face id -> group id); with clear_others, every other
        face's group is cleared, so the mapping is the whole truth."""
        with self._writing() as conn:
            if clear_others:
                conn.execute(update(m.faces).where(m.faces.c.dup_group.is_not(None)).values(dup_group=None))
            by_group: dict[int | None, list[int]] = {}
            for fid, g in groups.items():
                by_group.setdefault(g, []).append(fid)
            for g, fids in by_group.items():
                for chunk in _chunks(fids):
                    conn.execute(update(m.faces).where(m.faces.c.id.in_(chunk)).values(dup_group=g))
