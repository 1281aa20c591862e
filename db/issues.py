"""The model in the loop: label issues a model's predictions flag (confident learning, `train
suggest`), which of them people have resolved since, and what review changed (from the audit)."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

from sqlalchemy import and_, func, not_, select, update

from db import models as m
from db.types import ReviewSummary, Status

_A, _E, _P = m.annotations, m.label_events, m.predictions
BATCH = 1000


def _chunks(seq: Sequence, n: int = BATCH):
    for i in range(0, len(seq), n):
        yield list(seq[i : i + n])


class IssuesMixin:
    def mark_issues(self, model_id: int, face_ids: Sequence[int], among: Sequence[int] | None = None) -> int:
        """Flag these faces' predictions of the model as label issues, and clear the flag on its
        other predictions (the set replaces the last one); with `among`, only on those faces (a
        check of some faces leaves the others' flags as they were). Returns how many were flagged
        (faces the model has no prediction for are ignored)."""
        ids = sorted(set(int(i) for i in face_ids))
        flagged = 0
        with self._writing() as conn:
            clear = update(_P).where(_P.c.model_id == model_id, _P.c.issue.is_(True)).values(issue=False)
            if among is None:
                conn.execute(clear)
            else:
                for chunk in _chunks(sorted(set(int(i) for i in among))):
                    conn.execute(clear.where(_P.c.face_id.in_(chunk)))
            for chunk in _chunks(ids):
                flagged += conn.execute(update(_P).where(_P.c.model_id == model_id, _P.c.face_id.in_(chunk))
                                        .values(issue=True)).rowcount
        return flagged

    def issue_face_ids(self, model_id: int) -> list[int]:
        """The faces whose prediction by this model is flagged, in id order."""
        with self._reading() as conn:
            return list(conn.execute(select(_P.c.face_id).where(_P.c.model_id == model_id, _P.c.issue.is_(True))
                                     .order_by(_P.c.face_id)).scalars())

    def unresolved_issues(self, model_id: int) -> set[int]:
        """Flagged faces that nobody has confirmed since the prediction was stored: a face confirmed
        (relabeled or kept) after its prediction's time is resolved; deleted faces are left out."""
        resolved = and_(_A.c.status == Status.CONFIRMED.value, _A.c.updated_at >= _P.c.created_at)
        stmt = (select(_P.c.face_id).join(_A, _A.c.face_id == _P.c.face_id)
                .where(_P.c.model_id == model_id, _P.c.issue.is_(True), _A.c.status != Status.DELETED.value,
                       not_(resolved)))
        with self._reading() as conn:
            return set(conn.execute(stmt).scalars())

    def models_with_issues(self) -> list:
        """Models with flagged predictions, newest first."""
        with self._reading() as conn:
            ids = set(conn.execute(select(_P.c.model_id).where(_P.c.issue.is_(True)).distinct()).scalars())
        return [x for x in self.models() if x.id in ids]

    def review_summary(self, face_ids: Sequence[int]) -> ReviewSummary:
        """What review did to these faces (see ReviewSummary)."""
        ids = sorted(set(int(i) for i in face_ids))
        by_status: Counter = Counter()
        relabeled = after = changed = to_model = 0
        changes: Counter = Counter()
        by_model: Counter = Counter()
        ev = select(_E.c.face_id, _E.c.from_label, _E.c.to_label, _E.c.model_id, _E.c.predicted_label)
        with self._reading() as conn:
            for chunk in _chunks(ids):
                for status, n in conn.execute(select(_A.c.status, func.count()).where(_A.c.face_id.in_(chunk))
                                              .group_by(_A.c.status)).all():
                    by_status[status] += n
                for _, old, new, model_id, predicted in conn.execute(ev.where(_E.c.face_id.in_(chunk))).all():
                    label_changed = old is not None and new != old
                    relabeled += label_changed
                    if model_id is not None:
                        after += 1
                        by_model[model_id] += 1
                        if new != old:
                            changed += 1
                            to_model += new is not None and new == predicted
                            changes[f"{old}->{new}"] += 1
        reviewed = by_status[Status.CONFIRMED.value] + by_status[Status.UNCERTAIN.value]
        return ReviewSummary(faces=len(ids), by_status=dict(sorted(by_status.items())), reviewed=reviewed,
                             relabeled=relabeled, after_suggestion=after, changed_after_suggestion=changed,
                             to_model_class=to_model, changes=dict(changes.most_common()),
                             by_model=dict(sorted(by_model.items())))
