"""Trained models and their predictions: registering a model, finding it again, storing and reading
its class probabilities per face (what the labeler shows and orders by)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from db import models as m
from db.errors import CatalogError
from db.types import ModelInfo, NewModel, NewPrediction, PredictionRow

BATCH = 1000


def upsert(conn, table, rows: list[dict], keys: Sequence[str], columns: Sequence[str], batch: int = BATCH) -> None:
    """Insert rows, or where a row with the same keys exists, replace its columns (SQLite and PostgreSQL)."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    for i in range(0, len(rows), batch):
        stmt = ins(table)
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})
        conn.execute(stmt, rows[i : i + batch])


_MODEL_COLUMNS = (m.models.c.id, m.models.c.name, m.models.c.path, m.models.c.classes, m.models.c.kind, m.models.c.params,
                  m.models.c.metrics, m.models.c.created_at)
_PREDICTION_COLUMNS = (m.predictions.c.model_id, m.predictions.c.face_id, m.predictions.c.label, m.predictions.c.confidence,
                       m.predictions.c.second_confidence, m.predictions.c.probabilities, m.predictions.c.in_sample,
                       m.predictions.c.issue, m.predictions.c.created_at)


def prediction_values(model_id: int, p: NewPrediction) -> dict:
    """The row stored for one prediction: the arg-max class, its probability and the runner-up's."""
    if not p.probabilities:
        raise CatalogError(f"a prediction for face {p.face_id} has no probabilities")
    ranked = sorted(p.probabilities.items(), key=lambda kv: (-kv[1], kv[0]))
    return {
        "model_id": model_id, "face_id": p.face_id, "label": ranked[0][0], "confidence": float(ranked[0][1]),
        "second_confidence": float(ranked[1][1]) if len(ranked) > 1 else None,
        "probabilities": {k: round(float(v), 6) for k, v in p.probabilities.items()},
        "in_sample": bool(p.in_sample), "issue": False, "created_at": m.utcnow(),
    }


class RegistryMixin:
    # --- models --------------------------------------------------------------------------------
    def register_model(self, model: NewModel) -> int:
        """Add a model, or update the one registered at the same path (its id, and so its
        predictions, stay). Returns the model id."""
        values = {"name": model.name, "path": model.path, "classes": list(model.classes), "kind": model.kind,
                  "params": dict(model.params), "metrics": dict(model.metrics)}
        with self._writing() as conn:
            found = conn.execute(
                select(m.models.c.id).where(m.models.c.path == model.path).order_by(m.models.c.id.desc()).limit(1)
            ).scalar()
            if found is not None:
                conn.execute(update(m.models).where(m.models.c.id == found).values(**values, created_at=m.utcnow()))
                return found
            return conn.execute(m.models.insert().returning(m.models.c.id), [values]).scalar_one()

    def models(self) -> list[ModelInfo]:
        """Every registered model, newest first."""
        with self._reading() as conn:
            rows = conn.execute(select(*_MODEL_COLUMNS).order_by(m.models.c.created_at.desc(), m.models.c.id.desc())).all()
        return [ModelInfo(*r) for r in rows]

    def get_model(self, ref: int | str | os.PathLike) -> ModelInfo | None:
        """A model by id, by its directory, or by name (the newest of that name)."""
        text = os.fspath(ref) if not isinstance(ref, int) else str(ref)
        candidates = self.models()
        if text.isdigit():
            hit = next((x for x in candidates if x.id == int(text)), None)
            if hit is not None:
                return hit
        path = str(Path(text).expanduser().resolve())
        hit = next((x for x in candidates if x.path == path), None)
        return hit or next((x for x in candidates if x.name == text), None)

    # --- predictions ---------------------------------------------------------------------------
    def store_predictions(self, model_id: int, predictions: Sequence[NewPrediction]) -> int:
        """Store (or replace) the model's prediction for each face; returns how many were written.
        A stored prediction's issue flag is reset: flag again after (confident learning reads them)."""
        rows = [prediction_values(model_id, p) for p in predictions]
        with self._writing() as conn:
            upsert(conn, m.predictions, rows, ("model_id", "face_id"),
                   ("label", "confidence", "second_confidence", "probabilities", "in_sample", "issue", "created_at"))
        return len(rows)

    def predictions(self, model_id: int, face_ids: Sequence[int] | None = None) -> dict[int, PredictionRow]:
        """The model's predictions, by face id: for these faces, or (None) every face it predicted."""
        stmt = select(*_PREDICTION_COLUMNS).where(m.predictions.c.model_id == model_id)
        with self._reading() as conn:
            if face_ids is None:
                return {r.face_id: PredictionRow(*r) for r in conn.execute(stmt).all()}
            out: dict[int, PredictionRow] = {}
            for i in range(0, len(face_ids), BATCH):
                chunk = list(face_ids[i : i + BATCH])
                out.update({r.face_id: PredictionRow(*r) for r in
                            conn.execute(stmt.where(m.predictions.c.face_id.in_(chunk))).all()})
            return out

    def models_with_predictions(self) -> list[ModelInfo]:
        """Models that have stored predictions, newest first (the labeler shows the first by default)."""
        with self._reading() as conn:
            ids = set(conn.execute(select(m.predictions.c.model_id).distinct()).scalars())
        return [x for x in self.models() if x.id in ids]
