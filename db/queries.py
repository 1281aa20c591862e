"""Reading the catalog: filtered pages of faces, crops, counts and stats."""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

from sqlalchemy import Select, func, select

from db import models as m

if TYPE_CHECKING:
    import numpy as np
from db.types import (
    SELECTION_CONFIRMED,
    DownloadStatus,
    QueryImage,
    SELECTION_LABELED,
    FaceFilter,
    FaceRow,
    Status,
)

_F, _A, _I, _S = m.faces, m.annotations, m.images, m.sources


_ROW_COLUMNS = (
    _F.c.id, _F.c.image_id, _S.c.id, _S.c.name, _S.c.kind,
    _F.c.bbox_left, _F.c.bbox_top, _F.c.bbox_width, _F.c.bbox_height,
    _F.c.detector, _F.c.score, _F.c.crop_size, _F.c.phash, _F.c.pixel_sha256, _F.c.dup_group,
    _A.c.label, _A.c.status, _A.c.suggested_label, _A.c.split_hint, _A.c.annotator, _A.c.version,
    _I.c.url, _F.c.dataset_path, _I.c.query, _F.c.stored_size,
)
_CROP = len(_ROW_COLUMNS)  # where crop_png is, when asked for


def _base(columns) -> Select:
    return (
        select(*columns)
        .select_from(_F)
        .join(_A, _A.c.face_id == _F.c.id)
        .join(_I, _I.c.id == _F.c.image_id)
        .join(_S, _S.c.id == _F.c.source_id)
    )


def apply_filter(stmt: Select, flt: FaceFilter) -> Select:
    sel = flt.selection
    if sel == SELECTION_LABELED:
        stmt = stmt.where(_A.c.label.is_not(None), _A.c.status != Status.DELETED.value)
    elif sel == SELECTION_CONFIRMED:
        stmt = stmt.where(_A.c.status == Status.CONFIRMED.value)
    elif sel is not None:
        stmt = stmt.where(_A.c.status == Status(sel).value)
    elif not flt.include_deleted:
        stmt = stmt.where(_A.c.status != Status.DELETED.value)
    if flt.labels is not None:
        stmt = stmt.where(_A.c.label.in_(flt.labels))
    if flt.unlabeled_only:
        stmt = stmt.where(_A.c.label.is_(None))
    if flt.sources is not None:
        stmt = stmt.where(_S.c.name.in_(flt.sources))
    if flt.source_kinds is not None:
        stmt = stmt.where(_S.c.kind.in_(flt.source_kinds))
    if flt.queries is not None:
        stmt = stmt.where(_I.c.query.in_(flt.queries))
    if flt.image_id is not None:
        stmt = stmt.where(_F.c.image_id == flt.image_id)
    return stmt


def _to_row(r, crop: bytes | None = None) -> FaceRow:
    (fid, image_id, source_id, sname, skind, left, top, width, height, detector, score, size,
     phash, pixel_sha, group, label, status, suggested, split, annotator, version,
     url, dataset_path, query, stored_size) = r[:_CROP]
    return FaceRow(
        id=fid, image_id=image_id, source_id=source_id, source_name=sname, source_kind=skind,
        bbox=(left, top, width, height), detector=detector, score=score, crop_size=size,
        phash=phash, pixel_sha256=pixel_sha, dup_group=group, label=label, status=Status(status),
        suggested_label=suggested, split_hint=split, annotator=annotator, version=version,
        url=url, dataset_path=dataset_path, query=query, crop_png=crop, stored_size=stored_size or size,
    )


class QueriesMixin:
    def select_faces(
        self, flt: FaceFilter = FaceFilter(), after_id: int = 0, limit: int = 200, with_crops: bool = False
    ) -> list[FaceRow]:
        """One page of faces in id order, after `after_id` (keyset paging: fast at any depth)."""
        cols = _ROW_COLUMNS + ((_F.c.crop_png,) if with_crops else ())
        stmt = apply_filter(_base(cols), flt).where(_F.c.id > after_id).order_by(_F.c.id).limit(limit)
        with self._reading() as conn:
            rows = conn.execute(stmt).all()
        return [_to_row(r, r[_CROP] if with_crops else None) for r in rows]

    def iter_faces(self, flt: FaceFilter = FaceFilter(), batch: int = 1000, with_crops: bool = False) -> Iterator[FaceRow]:
        after = 0
        while True:
            page = self.select_faces(flt, after_id=after, limit=batch, with_crops=with_crops)
            if not page:
                return
            yield from page
            after = page[-1].id

    def face_ids(self, flt: FaceFilter = FaceFilter()) -> list[int]:
        """Every matching face id in order: what a lazy list model holds (100,000 ints is nothing)."""
        with self._reading() as conn:
            return list(conn.execute(apply_filter(_base((_F.c.id,)), flt).order_by(_F.c.id)).scalars())

    def faces_by_ids(self, ids: Sequence[int], with_crops: bool = False) -> list[FaceRow]:
        """These faces, in the order asked for (missing ids are left out)."""
        cols = _ROW_COLUMNS + ((_F.c.crop_png,) if with_crops else ())
        found: dict[int, FaceRow] = {}
        with self._reading() as conn:
            for i in range(0, len(ids), 1000):
                chunk = list(ids[i : i + 1000])
                for r in conn.execute(_base(cols).where(_F.c.id.in_(chunk))).all():
                    found[r[0]] = _to_row(r, r[_CROP] if with_crops else None)
        return [found[i] for i in ids if i in found]

    def get_face(self, face_id: int, with_crop: bool = True) -> FaceRow | None:
        rows = self.faces_by_ids([face_id], with_crops=with_crop)
        return rows[0] if rows else None

    def _by_ids(self, stmt: Select, id_column, ids: Sequence[int]) -> dict:
        """Run `stmt` (selecting id, value) for these ids, 1,000 at a time: {id: value}."""
        out: dict = {}
        with self._reading() as conn:
            for i in range(0, len(ids), 1000):
                out.update(conn.execute(stmt.where(id_column.in_(list(ids[i : i + 1000])))).all())
        return out

    def crops(self, ids: Sequence[int]) -> dict[int, bytes]:
        """PNG bytes of these faces' crops, as stored: a pre-cropped face may be smaller than its
        crop_size (decode with db.pixels.crop_pixels(png, size), or use crop_arrays)."""
        return self._by_ids(select(_F.c.id, _F.c.crop_png), _F.c.id, ids)

    def crop_arrays(self, ids: Sequence[int], size: int) -> dict[int, "np.ndarray"]:
        """These faces' crops as (size, size) uint8 grayscale arrays, whatever size each is stored at."""
        from db.pixels import crop_pixels

        return {fid: crop_pixels(png, size) for fid, png in self.crops(ids).items()}

    def image_blob_paths(self, image_ids: Sequence[int]) -> dict[int, str]:
        """Blob-store paths (see Catalog.blobs) of these images' original bytes, by image id."""
        return self._by_ids(select(_I.c.id, _I.c.blob_path), _I.c.id, image_ids)

    def image_sources(self, image_ids: Sequence[int]) -> dict[int, str]:
        """The name of the source each of these images came from first (its image row's source)."""
        return self._by_ids(select(_I.c.id, _S.c.name).join(_S, _S.c.id == _I.c.source_id), _I.c.id, image_ids)

    def image_ids_of_source(self, name: str) -> set[int]:
        """Ids of the images whose row belongs to this source."""
        with self._reading() as conn:
            return set(conn.execute(select(_I.c.id).join(_S, _S.c.id == _I.c.source_id).where(_S.c.name == name)).scalars())

    def query_images(self, query: str) -> list[QueryImage]:
        """The images a scrape query found, best rank first: those it downloaded and those it found
        again under another URL (outcome `duplicate`), each once."""
        d = m.downloads
        stmt = (
            select(_I.c.id, _I.c.sha256, _I.c.blob_path, func.min(d.c.rank))
            .select_from(d).join(_I, _I.c.id == d.c.image_id)
            .where(d.c.query == query, d.c.status.in_((DownloadStatus.OK.value, DownloadStatus.DUPLICATE.value)))
            .group_by(_I.c.id, _I.c.sha256, _I.c.blob_path)
            .order_by(func.min(d.c.rank), _I.c.id)
        )
        with self._reading() as conn:
            return [QueryImage(*r) for r in conn.execute(stmt).all()]

    def count_faces(self, flt: FaceFilter = FaceFilter()) -> int:
        with self._reading() as conn:
            return conn.execute(apply_filter(_base((func.count(_F.c.id),)), flt)).scalar_one()

    def stats(self) -> dict:
        """Counts for `curate stats`. Keys stay stable: scripts read them."""
        with self._reading() as conn:
            images = conn.execute(select(func.count(_I.c.id))).scalar_one()
            faces = conn.execute(select(func.count(_F.c.id))).scalar_one()
            by_status = dict(conn.execute(select(_A.c.status, func.count()).group_by(_A.c.status)).all())
            not_deleted = _A.c.status != Status.DELETED.value
            by_label = dict(
                conn.execute(
                    select(_A.c.label, func.count()).where(_A.c.label.is_not(None), not_deleted).group_by(_A.c.label)
                ).all()
            )
            by_source = dict(
                conn.execute(
                    select(_S.c.name, func.count(_F.c.id))
                    .select_from(_F).join(_S, _S.c.id == _F.c.source_id)
                    .group_by(_S.c.name)
                ).all()
            )
            by_split = {
                split or "none": n
                for split, n in conn.execute(
                    select(_A.c.split_hint, func.count()).where(not_deleted).group_by(_A.c.split_hint)
                ).all()
            }
            by_extraction = dict(
                conn.execute(select(_I.c.extraction_state, func.count()).group_by(_I.c.extraction_state)).all()
            )
            by_download = dict(
                conn.execute(select(m.downloads.c.status, func.count()).group_by(m.downloads.c.status)).all()
            )
            sources = conn.execute(select(func.count(_S.c.id))).scalar_one()
            duplicate_groups = conn.execute(
                select(func.count(func.distinct(_F.c.dup_group))).where(_F.c.dup_group.is_not(None))
            ).scalar_one()
        return {
            "catalog": self.display,
            "sources": sources,
            "images": images,
            "faces": faces,
            "by_status": {s.value: by_status.get(s.value, 0) for s in Status},
            "by_label": dict(sorted(by_label.items())),
            "by_source": dict(sorted(by_source.items())),
            "by_split": dict(sorted(by_split.items())),
            "by_extraction": dict(sorted(by_extraction.items())),
            "by_download": dict(sorted(by_download.items())),
            "duplicate_groups": duplicate_groups,
        }
