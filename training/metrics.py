"""Classification figures from true and predicted class indices: accuracy, macro-F1, per-class
precision / recall / F1 and the confusion matrix (NumPy only), and the text of report.txt."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Scores:
    classes: list[str]
    confusion: np.ndarray  # (K, K) counts: rows true class, columns predicted
    n: int

    @property
    def accuracy(self) -> float:
        return float(np.trace(self.confusion) / self.n) if self.n else 0.0

    @property
    def support(self) -> np.ndarray:
        return self.confusion.sum(axis=1)

    @property
    def precision(self) -> np.ndarray:
        predicted = self.confusion.sum(axis=0)
        return np.divide(np.diag(self.confusion), predicted, out=np.zeros(len(self.classes)), where=predicted > 0)

    @property
    def recall(self) -> np.ndarray:
        return np.divide(np.diag(self.confusion), self.support, out=np.zeros(len(self.classes)), where=self.support > 0)

    @property
    def f1(self) -> np.ndarray:
        p, r = self.precision, self.recall
        return np.divide(2 * p * r, p + r, out=np.zeros(len(self.classes)), where=(p + r) > 0)

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the classes that have faces here (a class absent from the data is left out)."""
        present = self.support > 0
        return float(self.f1[present].mean()) if present.any() else 0.0

    def as_dict(self) -> dict:
        return {
            "faces": self.n,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_class": {
                k: {"precision": round(float(self.precision[i]), 4), "recall": round(float(self.recall[i]), 4),
                    "f1": round(float(self.f1[i]), 4), "support": int(self.support[i])}
                for i, k in enumerate(self.classes)
            },
            "confusion": self.confusion.tolist(),
        }


def scores(classes: list[str], y_true: np.ndarray, y_pred: np.ndarray) -> Scores:
    k = len(classes)
    confusion = np.bincount(np.asarray(y_true) * k + np.asarray(y_pred), minlength=k * k).reshape(k, k)
    return Scores(list(classes), confusion, int(len(y_true)))


def report_text(s: Scores, title: str = "") -> str:
    """Per-class precision, recall, F1 and support, then accuracy and macro-F1 (sklearn's layout)."""
    width = max([len(k) for k in s.classes] + [len("macro avg")])
    lines = [title] if title else []
    lines.append(f"{'':<{width}}  precision  recall  f1-score  support")
    for i, k in enumerate(s.classes):
        lines.append(f"{k:<{width}}  {s.precision[i]:>9.3f}  {s.recall[i]:>6.3f}  {s.f1[i]:>8.3f}  {int(s.support[i]):>7}")
    present = s.support > 0
    lines.append("")
    lines.append(f"{'accuracy':<{width}}  {'':>9}  {'':>6}  {s.accuracy:>8.3f}  {s.n:>7}")
    if present.any():
        lines.append(f"{'macro avg':<{width}}  {s.precision[present].mean():>9.3f}  {s.recall[present].mean():>6.3f}"
                     f"  {s.macro_f1:>8.3f}  {s.n:>7}")
    return "\n".join(lines) + "\n"
