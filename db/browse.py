"""Review lists: the ids of the faces a filter selects, in an order, over the whole catalog in SQL.

What the labeler's list model holds (100,000 ints is nothing); its rows come from faces_by_ids.
The model orders read the ranking columns the catalog keeps on each prediction (0009), in index
order, and the disagreement filter its `disagrees` column (0010). Nothing here reads rows in
Python: only id lists.
"""
from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import exists, false, func, or_, select, true
from sqlalchemy.sql import ColumnElement, Select

from db import models as m
from db.errors import CatalogError
from db.types import (
    Duplicates,
    ExtractionState,
    ImageRow,
    MODEL_ORDERS,
    Order,
    ReviewCounts,
    ReviewFilter,
    Status,
)

_F, _A, _I, _S, _P, _C = m.faces, m.annotations, m.images, m.sources, m.predictions, m.face_claims
BATCH = 1000


def _in_or_none(column, values: Sequence) -> ColumnElement:
    """column IN values, where a None among them matches NULL."""
    named = [v for v in values if v is not None]
    parts = [column.in_(named)] if named else []
    if len(named) < len(values):
        parts.append(column.is_(None))
    return or_(*parts) if parts else false()


def db_now(conn) -> datetime:
    """The time claims are measured by: the server's clock on PostgreSQL (apps on several machines
    share it), this machine's on SQLite (one machine)."""
    if conn.dialect.name == "postgresql":
        return conn.execute(select(func.now())).scalar_one()
    return m.utcnow()


def _conditions(flt: ReviewFilter, now: datetime | None) -> list:
    """The WHERE conditions of a filter, on annotations alone: what needs a face's columns is an
    `IN (SELECT id FROM faces ...)` that an index answers (a face row holds its crop: reading rows
    would read the crops)."""
    where: list = []
    if flt.statuses is None:
        where.append(_A.c.status != Status.DELETED.value)
    else:
        where.append(_A.c.status.in_([Status(s).value for s in flt.statuses]))
    if flt.labels is not None:
        where.append(_in_or_none(_A.c.label, flt.labels))
    if flt.suggested is not None:
        where.append(_in_or_none(_A.c.suggested_label, flt.suggested))
    if flt.split_hints is not None:
        where.append(_in_or_none(_A.c.split_hint, flt.split_hints))
    if flt.sources is not None:
        where.append(_A.c.face_id.in_(select(_F.c.id).where(_F.c.source_id.in_(
            select(_S.c.id).where(_S.c.name.in_(flt.sources))))))
    if flt.queries is not None:
        where.append(_A.c.face_id.in_(select(_F.c.id).join(_I, _I.c.id == _F.c.image_id).where(_I.c.query.in_(flt.queries))))
    if flt.duplicates is not None:
        if Duplicates(flt.duplicates) is Duplicates.GROUPED:
            where.append(_A.c.face_id.in_(select(_F.c.id).where(_F.c.dup_group.is_not(None))))
        else:
            f2, a2 = m.faces.alias("f2"), m.annotations.alias("a2")
            conflicting = (
                select(f2.c.dup_group)
                .join(a2, a2.c.face_id == f2.c.id)
                .where(f2.c.dup_group.is_not(None), a2.c.status != Status.DELETED.value)
                .group_by(f2.c.dup_group)
                .having(func.count(func.distinct(a2.c.label)) > 1)
            )
            where.append(_A.c.face_id.in_(select(_F.c.id).where(_F.c.dup_group.in_(conflicting))))
    if flt.model_disagrees or flt.model_flagged:
        if flt.model_id is None:
            raise CatalogError("the model filters need a model (model_id)")
        if flt.model_disagrees:
            # The model's disagreeing faces from their index (0010 keeps `disagrees` current with
            # the own label): one scan, where probing each face's prediction costs twice the time.
            where.append(_A.c.face_id.in_(select(_P.c.face_id).where(_P.c.model_id == flt.model_id,
                                                                  _P.c.disagrees == true())))
        if flt.model_flagged:
            where.append(exists().where(_P.c.face_id == _A.c.face_id, _P.c.model_id == flt.model_id, _P.c.issue.is_(True)))
    if flt.skip_claimed_by_others is not None:
        # Only unreviewed faces are skipped. The status test sits inside the NOT EXISTS, not OR-ed
        # beside it: so PostgreSQL plans an anti-join, not a sub-query per face (125 ms for 100,000).
        claimed = exists().where(_C.c.face_id == _A.c.face_id, _C.c.holder != flt.skip_claimed_by_others,
                                 _C.c.expires_at > now, _A.c.status == Status.UNREVIEWED.value)
        where.append(~claimed)
    return where


def _ranking_key(order: Order) -> ColumnElement:
    """The predictions column a model order reads, lowest first (0009 keeps self_confidence and
    margin current with the face's own label)."""
    return {Order.LEAST_CONFIDENCE: _P.c.confidence, Order.SELF_CONFIDENCE: _P.c.self_confidence,
            Order.MARGIN: _P.c.margin}[order]


def ranking_statements(model_id: int, order: Order) -> list[Select]:
    """A model's predicted faces in a model order: those with the key from its index in order (no
    JSON read, no sort), then those without it (no own label, or a class the model does not know)
    by face id. Predictions alone: the filter is applied to these ids, not joined."""
    key = _ranking_key(Order(order))
    predicted = select(_P.c.face_id).where(_P.c.model_id == model_id)
    return [predicted.where(key.is_not(None)).order_by(key, _P.c.face_id),
            predicted.where(key.is_(None)).order_by(_P.c.face_id)]


def selection_statement(flt: ReviewFilter, order: Order, now: datetime | None) -> Select:
    """The ids a filter selects, in the order when it is one SQL can give alone (catalog,
    duplicates); a model order ranks these ids afterwards (see review_ids)."""
    order = Order(order)
    where = _conditions(flt, now)
    if order is Order.DUPLICATES:
        # The group ids from their index, once (MATERIALIZED: else the planner reads every face row).
        # A group's id is its smallest face id: the group sits where its first member would.
        groups = select(_F.c.id, _F.c.dup_group).where(_F.c.dup_group.is_not(None)).cte("groups").prefix_with("MATERIALIZED")
        return (select(_A.c.face_id).outerjoin(groups, groups.c.id == _A.c.face_id).where(*where)
                .order_by(func.coalesce(groups.c.dup_group, _A.c.face_id), _A.c.face_id))
    if order in MODEL_ORDERS and flt.model_id is None:
        raise CatalogError(f"the order {order.value!r} needs a model (model_id)")
    return select(_A.c.face_id).where(*where).order_by(_A.c.face_id)


def _ids(conn, stmt: Select) -> list[int]:
    if conn.dialect.name == "postgresql":
        # One array value rather than 100,000 rows: half the time through psycopg (a model's
        # ranking of 80,000 faces: 44 -> 19 ms). ARRAY(subquery) keeps the subquery's order.
        return list(conn.execute(select(func.array(stmt.scalar_subquery()))).scalar_one())
    # Integers need no processing: read them off the driver's cursor (a third faster than
    # SQLAlchemy's rows for 100,000 of them).
    return [r[0] for r in conn.execute(stmt).cursor.fetchall()]


class BrowseMixin:
    def review_ids(self, flt: ReviewFilter = ReviewFilter(), order: Order = Order.CATALOG,
                   among: Sequence[int] | None = None) -> list[int]:
        """The ids of every face the filter selects, in the order: what a lazy list model holds.
        `among`: only these faces, in the order too (e.g. new faces, to see which join an open list).

        A model order is two index scans merged here: the filter's ids (annotations) and the
        model's ranking (predictions, in order), kept where the first has them; then the selected
        faces the model did not predict, in catalog order. Joined in SQL instead, each of 100,000
        ranked faces costs a look-up of its annotation: twice the time on SQLite.
        """
        order = Order(order)
        with self._reading() as conn:
            now = db_now(conn) if flt.skip_claimed_by_others is not None else None
            stmt = selection_statement(flt, order, now)
            small = sorted(set(among)) if among is not None and len(set(among)) <= BATCH else None
            if small is not None:
                stmt = stmt.where(_A.c.face_id.in_(small))
            selected = _ids(conn, stmt)
            if among is not None and small is None:
                wanted = set(among)
                selected = [i for i in selected if i in wanted]
            if order not in MODEL_ORDERS:
                return selected
            # A few faces (the window asks which new ones join its list): their predictions only,
            # not the model's whole ranking.
            ranking = [r if small is None else r.where(_P.c.face_id.in_(small))
                       for r in ranking_statements(flt.model_id, order)]
            ranked = [i for r in ranking for i in _ids(conn, r)]
        chosen = set(selected)
        predicted = set(ranked)
        return [i for i in ranked if i in chosen] + [i for i in selected if i not in predicted]

    def review_counts(self, flt: ReviewFilter = ReviewFilter()) -> ReviewCounts:
        """Totals of the faces a filter selects: by status and by label, in one GROUP BY."""
        with self._reading() as conn:
            now = db_now(conn) if flt.skip_claimed_by_others is not None else None
            stmt = select(_A.c.status, _A.c.label, func.count()).where(*_conditions(flt, now))
            rows = conn.execute(stmt.group_by(_A.c.status, _A.c.label)).all()
        by_status: dict[str, int] = {}
        by_label: dict[str | None, int] = {}
        for status, label, n in rows:
            by_status[status] = by_status.get(status, 0) + n
            by_label[label] = by_label.get(label, 0) + n
        faces = sum(by_status.values())
        return ReviewCounts(faces=faces, reviewed=faces - by_status.get(Status.UNREVIEWED.value, 0),
                            by_status=by_status, by_label=by_label)

    def review_choices(self) -> dict[str, list]:
        """The values a review filter can pick from: source names, scrape queries, split hints."""
        with self._reading() as conn:
            sources = sorted(conn.execute(select(_S.c.name).distinct()).scalars())
            queries = sorted(q for q in conn.execute(select(_I.c.query).distinct()).scalars() if q)
            splits = sorted(s for s in conn.execute(select(_A.c.split_hint).distinct()).scalars() if s)
        return {"sources": sources, "queries": queries, "split_hints": splits}

    def duplicate_group(self, group_id: int) -> list[int]:
        """The ids of every face in a duplicate group (deleted ones too), in id order."""
        with self._reading() as conn:
            return list(conn.execute(select(_F.c.id).where(_F.c.dup_group == group_id).order_by(_F.c.id)).scalars())

    # --- images where no face was found ----------------------------------------------------------
    def no_face_image_ids(self, include_rejected: bool = False, sources: Sequence[str] | None = None) -> list[int]:
        """Images extraction found no face in (with include_rejected, also those a person rejected)."""
        states = [ExtractionState.NO_FACE.value] + ([ExtractionState.REJECTED.value] if include_rejected else [])
        stmt = select(_I.c.id).where(_I.c.extraction_state.in_(states)).order_by(_I.c.id)
        if sources is not None:
            stmt = stmt.where(_I.c.source_id.in_(select(_S.c.id).where(_S.c.name.in_(sources))))
        with self._reading() as conn:
            return list(conn.execute(stmt).scalars())

    def images_by_ids(self, ids: Sequence[int]) -> list[ImageRow]:
        """These images, in the order asked for (missing ids are left out)."""
        stmt = (select(_I.c.id, _I.c.blob_path, _I.c.width, _I.c.height, _I.c.format, _S.c.name, _I.c.url, _I.c.page_url,
                       _I.c.query, _I.c.dataset_path, _I.c.extraction_state)
                .join(_S, _S.c.id == _I.c.source_id))
        found: dict[int, ImageRow] = {}
        with self._reading() as conn:
            for i in range(0, len(ids), BATCH):
                for r in conn.execute(stmt.where(_I.c.id.in_(list(ids[i : i + BATCH])))).all():
                    found[r[0]] = ImageRow(*r)
        return [found[i] for i in ids if i in found]
