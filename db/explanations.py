"""Explanations of faces by models (Grad-CAM maps as PNG), stored and read back by model and face."""
from __future__ import annotations

from typing import Sequence

from sqlalchemy import func, select

from db import models as m
from db.registry import upsert
from db.types import ExplanationRow, NewExplanation

BATCH = 500  # PNGs of a few KB each: a statement stays small

_COLUMNS = (m.face_explanations.c.model_id, m.face_explanations.c.face_id, m.face_explanations.c.label,
            m.face_explanations.c.method, m.face_explanations.c.png, m.face_explanations.c.created_at)


class ExplanationsMixin:
    def store_explanations(self, model_id: int, explanations: Sequence[NewExplanation]) -> int:
        """Store (or replace) the model's explanation of each face; returns how many were written."""
        rows = [{"model_id": model_id, "face_id": e.face_id, "label": e.label, "method": e.method, "png": e.png,
                 "created_at": m.utcnow()} for e in explanations]
        with self._writing() as conn:
            upsert(conn, m.face_explanations, rows, ("model_id", "face_id"), ("label", "method", "png", "created_at"),
                   batch=BATCH)
        return len(rows)

    def explanation(self, model_id: int, face_id: int) -> ExplanationRow | None:
        with self._reading() as conn:
            row = conn.execute(select(*_COLUMNS).where(m.face_explanations.c.model_id == model_id,
                                                       m.face_explanations.c.face_id == face_id)).first()
        return ExplanationRow(*row) if row else None

    def explained_faces(self, model_id: int) -> int:
        """How many faces the model has an explanation for."""
        with self._reading() as conn:
            return conn.execute(select(func.count()).select_from(m.face_explanations)
                                .where(m.face_explanations.c.model_id == model_id)).scalar_one()

    def models_with_explanations(self) -> list:
        """Models that have stored explanations, newest first."""
        with self._reading() as conn:
            ids = set(conn.execute(select(m.face_explanations.c.model_id).distinct()).scalars())
        return [x for x in self.models() if x.id in ids]
