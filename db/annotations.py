"""Changing annotations (with version check and audit), the class taxonomy, models and exports."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from sqlalchemy import delete, insert, select, update

from db import models as m
from db.errors import CatalogError, ConflictError
from db.types import UNSET, ClassInfo, DecisionContext, LabelEvent, Status


def _context_values(context: DecisionContext | None) -> dict:
    if context is None:
        return {}
    return {"via": context.via, "model_id": context.model_id, "predicted_label": context.predicted_label,
            "predicted_confidence": context.predicted_confidence}


class AnnotationsMixin:
    def annotate(
        self,
        face_id: int,
        expected_version: int,
        annotator: str,
        *,
        label: str | None = UNSET,
        status: Status | str = UNSET,
        context: DecisionContext | None = None,
    ) -> int:
        """Set a face's label and/or status, if it is still at `expected_version`.

        Returns the new version. Raises ConflictError (and changes nothing) when someone else changed
        the face since that version. Every applied change appends one label_events row, with the
        context (the tool, the model prediction the person saw) when given.
        """
        if label is not UNSET and label is not None and label not in self.class_names():
            raise CatalogError(f"unknown class {label!r}; classes are: {', '.join(self.class_names())}")
        new_status = Status(status).value if status is not UNSET else UNSET
        with self._writing() as conn:
            cur = conn.execute(
                select(m.annotations.c.label, m.annotations.c.status, m.annotations.c.version).where(
                    m.annotations.c.face_id == face_id
                )
            ).first()
            if cur is None:
                raise ConflictError(face_id, expected_version, None)
            if cur.version != expected_version:
                raise ConflictError(face_id, expected_version, cur.version)
            to_label = cur.label if label is UNSET else label
            to_status = cur.status if new_status is UNSET else new_status
            # The WHERE on version makes the check and the write one atomic step on every backend.
            result = conn.execute(
                update(m.annotations)
                .where(m.annotations.c.face_id == face_id, m.annotations.c.version == expected_version)
                .values(label=to_label, status=to_status, annotator=annotator,
                        updated_at=m.utcnow(), version=expected_version + 1)
            )
            if result.rowcount != 1:
                actual = conn.execute(
                    select(m.annotations.c.version).where(m.annotations.c.face_id == face_id)
                ).scalar()
                raise ConflictError(face_id, expected_version, actual)
            conn.execute(
                insert(m.label_events).values(
                    face_id=face_id, annotator=annotator, from_label=cur.label, to_label=to_label,
                    from_status=cur.status, to_status=to_status, version=expected_version + 1,
                    **_context_values(context),
                )
            )
        return expected_version + 1

    def label_events(self, face_id: int | None = None) -> list[LabelEvent]:
        stmt = select(m.label_events).order_by(m.label_events.c.id)
        if face_id is not None:
            stmt = stmt.where(m.label_events.c.face_id == face_id)
        with self._reading() as conn:
            return [LabelEvent(**r._asdict()) for r in conn.execute(stmt).all()]

    # --- classes -------------------------------------------------------------------------------
    def classes(self) -> list[ClassInfo]:
        with self._reading() as conn:
            rows = conn.execute(select(m.classes).order_by(m.classes.c.position)).all()
        return [ClassInfo(**r._asdict()) for r in rows]

    def class_names(self) -> list[str]:
        return [c.name for c in self.classes()]

    def set_class(self, name: str, key: str | None = None, emoji: str | None = None) -> None:
        """Add a class, or change an existing one's key or emoji."""
        with self._writing() as conn:
            if key:
                taken = conn.execute(
                    select(m.classes.c.name).where(m.classes.c.key == key, m.classes.c.name != name)
                ).scalar()
                if taken:
                    raise CatalogError(f"key {key!r} already belongs to class {taken!r}")
            cur = conn.execute(select(m.classes).where(m.classes.c.name == name)).first()
            if cur is None:
                pos = conn.execute(select(m.classes.c.position).order_by(m.classes.c.position.desc())).scalar()
                conn.execute(
                    insert(m.classes).values(
                        name=name, key=key or "", emoji=emoji or "", position=(pos or 0) + 1
                    )
                )
            else:
                values = {k: v for k, v in (("key", key), ("emoji", emoji)) if v is not None}
                if values:
                    conn.execute(update(m.classes).where(m.classes.c.name == name).values(**values))

    def remove_class(self, name: str) -> None:
        with self._writing() as conn:
            if conn.execute(select(m.classes.c.name).where(m.classes.c.name == name)).first() is None:
                raise CatalogError(f"no class {name!r}; classes are: {', '.join(self.class_names())}")
            used = conn.execute(
                select(m.annotations.c.face_id)
                .where((m.annotations.c.label == name) | (m.annotations.c.suggested_label == name))
                .limit(1)
            ).first()
            if used:
                raise CatalogError(f"class {name!r} is still the label or suggestion of some faces; relabel them first")
            conn.execute(delete(m.classes).where(m.classes.c.name == name))

    # --- exports ------------------------------------------------------------------------------
    def record_export(self, path: str, fmt: str, filters: Mapping[str, Any], counts: Mapping[str, Any],
                      manifest_sha256: str) -> int:
        with self._writing() as conn:
            return conn.execute(
                insert(m.exports).returning(m.exports.c.id),
                [{"path": path, "format": fmt, "filters": dict(filters), "counts": dict(counts),
                  "manifest_sha256": manifest_sha256}],
            ).scalar_one()
