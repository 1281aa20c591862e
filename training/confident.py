"""Confident learning: which labels are likely wrong, from out-of-sample class probabilities.

Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 70
(2021), written here in NumPy from the paper's definitions (cleanlab, its authors' library, is
AGPL-3: never a dependency). With P the (n, m) probabilities of n faces and y their given labels:

- thresholds (eq. 2): t_j = the mean of P[x, j] over the faces labeled j (class j's mean self-confidence).
- confident joint (eq. 1): C[i, j] counts the faces labeled i whose "confident class" is j: the most
  probable class among those whose probability reaches their own threshold (P[x, l] >= t_l). A
  face with no class at its threshold is not counted.
- calibrated joint (eq. 3): each row rescaled to its class's size, C~[i, j] = C[i, j] / sum_j C[i, j]
  * n_i, rounded keeping row totals; n * Q[i, j] = C~[i, j] estimates how many faces labeled i are
  truly j. Each diagonal count is at least 1 first (a class with no confident face keeps its faces).
- the issues, by `method`:
  - "noise_rate" (the default; the paper's prune by noise rate, PBNR, sec. 3.2): for each i != j,
    the C~[i, j] faces labeled i with the largest margin P[x, j] - P[x, i].
  - "class" (prune by class, PBC): for each class i, the sum_{j != i} C~[i, j] faces labeled i with
    the lowest self-confidence P[x, i].
  - "both": the faces both of those flag.
  - "confident_joint" (C_{y~,y*}): the faces counted off the diagonal of the confident joint.
  As the authors' implementation does (min_examples_per_class=1), at least one face of each class is
  kept, and a face whose label is the model's most probable class is never flagged.
- the ranking of issues (most likely wrong first): by self-confidence P[x, y], lowest first, or by
  the normalized margin (P[x, y] - max_{j != y} P[x, j] + 1) / 2, lowest first; ties by index.

Tested against these definitions on synthetic cases with known answers (tests/training/test_confident.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("noise_rate", "class", "both", "confident_joint")
RANKINGS = ("self_confidence", "margin")
DEFAULT_METHOD = "noise_rate"
DEFAULT_RANKING = "self_confidence"
MIN_KEPT_PER_CLASS = 1


def _check(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or labels.shape != (len(probs),):
        raise ValueError(f"probabilities must be (n, m) and labels (n,); got {probs.shape} and {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
        raise ValueError(f"labels must be class indices 0..{probs.shape[1] - 1}")
    return probs, labels


def thresholds(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """t_j: the mean probability of class j over the faces labeled j; +inf for a class nobody has
    (no face can then be confidently of it)."""
    probs, labels = _check(probs, labels)
    m = probs.shape[1]
    counts = np.bincount(labels, minlength=m)
    sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=m)
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


# P[x, l] >= t_l up to rounding (the catalog stores probabilities to 6 decimals; the authors'
# implementation uses the same tolerance): a class whose faces all have the same p reaches its mean.
TOLERANCE = 1e-6


def confident_classes(probs: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Each face's confident class: argmax of P[x, l] over the classes with P[x, l] >= t_l; -1 if none."""
    above = probs >= t[None, :] - TOLERANCE
    masked = np.where(above, probs, -np.inf)
    best = masked.argmax(axis=1)
    return np.where(above.any(axis=1), best, -1)


def confident_joint(probs: np.ndarray, labels: np.ndarray, t: np.ndarray | None = None) -> np.ndarray:
    """C[i, j]: faces labeled i whose confident class is j (m x m integers)."""
    probs, labels = _check(probs, labels)
    m = probs.shape[1]
    t = thresholds(probs, labels) if t is None else t
    star = confident_classes(probs, t)
    keep = star >= 0
    joint = np.zeros((m, m), dtype=np.int64)
    np.add.at(joint, (labels[keep], star[keep]), 1)
    return joint


def _round_keeping_row_totals(x: np.ndarray, totals: np.ndarray) -> np.ndarray:
    """Integers whose rows add up to totals: floor, then the largest remainders get the rest."""
    out = np.floor(x).astype(np.int64)
    for i in range(len(x)):
        short = int(totals[i] - out[i].sum())
        if short > 0:
            order = np.argsort(-(x[i] - out[i]), kind="stable")
            out[i, order[:short]] += 1
    return out


def calibrate(joint: np.ndarray, class_counts: np.ndarray) -> np.ndarray:
    """C~: each row of the confident joint rescaled to its class's face count (eq. 3), as integers
    keeping the row totals. As the authors' implementation does, every class counts at least one
    face on its diagonal first, so a class with no confident face keeps its faces there."""
    joint = np.asarray(joint, dtype=np.float64).copy()
    counts = np.asarray(class_counts, dtype=np.int64)
    np.fill_diagonal(joint, np.maximum(np.diag(joint), 1))
    scaled = joint / joint.sum(axis=1)[:, None] * counts[:, None]
    return _round_keeping_row_totals(scaled, counts)


def _keep_some(prune: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Off-diagonal counts lowered (largest first) so at least MIN_KEPT_PER_CLASS faces of each class stay."""
    prune = prune.copy()
    np.fill_diagonal(prune, 0)
    for i in range(len(prune)):
        over = int(prune[i].sum() - max(counts[i] - MIN_KEPT_PER_CLASS, 0))
        while over > 0:
            j = int(prune[i].argmax())
            prune[i, j] -= 1
            over -= 1
    return prune


def self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    probs, labels = _check(probs, labels)
    return probs[np.arange(len(labels)), labels]


def normalized_margin(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(P[x, y] - max_{j != y} P[x, j] + 1) / 2, in [0, 1]: below 0.5, another class is more probable."""
    probs, labels = _check(probs, labels)
    own = probs[np.arange(len(labels)), labels]
    others = probs.copy()
    others[np.arange(len(labels)), labels] = -np.inf
    best_other = others.max(axis=1) if probs.shape[1] > 1 else np.zeros(len(labels))
    return (own - best_other + 1.0) / 2.0


def _top(scores: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k candidates with the largest scores (ties: lower index first)."""
    if k <= 0 or not len(candidates):
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort((candidates, -scores[candidates]))
    return candidates[order[:k]]


def prune_by_noise_rate(probs: np.ndarray, labels: np.ndarray, prune: np.ndarray) -> np.ndarray:
    """For each i != j, the prune[i, j] faces labeled i with the largest margin P[x, j] - P[x, i]."""
    flagged = np.zeros(len(labels), dtype=bool)
    for i, j in zip(*np.nonzero(prune)):
        if i == j:
            continue
        members = np.flatnonzero(labels == i)
        flagged[_top(probs[:, j] - probs[:, i], members, int(prune[i, j]))] = True
    return flagged


def prune_by_class(probs: np.ndarray, labels: np.ndarray, prune: np.ndarray) -> np.ndarray:
    """For each class i, the sum_{j != i} prune[i, j] faces labeled i with the lowest self-confidence."""
    flagged = np.zeros(len(labels), dtype=bool)
    own = self_confidence(probs, labels)
    for i in range(len(prune)):
        members = np.flatnonzero(labels == i)
        flagged[_top(-own, members, int(prune[i].sum() - prune[i, i]))] = True
    return flagged


@dataclass(frozen=True)
class Findings:
    """What confident learning found in one set of predictions."""

    thresholds: np.ndarray  # (m,) t_j
    joint: np.ndarray  # (m, m) the confident joint C: rows the given label, columns the confident class
    calibrated: np.ndarray  # (m, m) C~, rows adding up to each class's face count
    issues: np.ndarray  # (n,) bool: the label is likely wrong
    self_confidence: np.ndarray  # (n,) P[x, y]
    margin: np.ndarray  # (n,) normalized margin
    method: str

    def estimated_errors(self) -> int:
        """sum of C~ off the diagonal: how many labels the joint says are wrong."""
        return int(self.calibrated.sum() - np.trace(self.calibrated))

    def score(self, ranking: str = DEFAULT_RANKING) -> np.ndarray:
        if ranking not in RANKINGS:
            raise ValueError(f"unknown ranking {ranking!r}; use one of: {', '.join(RANKINGS)}")
        return self.self_confidence if ranking == "self_confidence" else self.margin

    def ranked_issues(self, ranking: str = DEFAULT_RANKING) -> np.ndarray:
        """Indices of the issues, most likely wrong first."""
        idx = np.flatnonzero(self.issues)
        return idx[np.lexsort((idx, self.score(ranking)[idx]))]

    def ranking(self, ranking: str = DEFAULT_RANKING) -> np.ndarray:
        """Every index: the issues first (ranked), then the other faces by the same score."""
        rest = np.flatnonzero(~self.issues)
        rest = rest[np.lexsort((rest, self.score(ranking)[rest]))]
        return np.concatenate([self.ranked_issues(ranking), rest])


def find_issues(probs: np.ndarray, labels: np.ndarray, method: str = DEFAULT_METHOD) -> Findings:
    """Confident learning on out-of-sample probabilities (n, m) and given labels (n,) as class indices."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; use one of: {', '.join(METHODS)}")
    probs, labels = _check(probs, labels)
    m = probs.shape[1]
    counts = np.bincount(labels, minlength=m)
    t = thresholds(probs, labels)
    joint = confident_joint(probs, labels, t)
    calibrated = calibrate(joint, counts)
    prune = _keep_some(calibrated, counts)
    if method == "confident_joint":
        star = confident_classes(probs, t)
        issues = (star >= 0) & (star != labels)
    elif method == "noise_rate":
        issues = prune_by_noise_rate(probs, labels, prune)
    elif method == "class":
        issues = prune_by_class(probs, labels, prune)
    else:
        issues = prune_by_noise_rate(probs, labels, prune) & prune_by_class(probs, labels, prune)
    issues &= probs.argmax(axis=1) != labels
    return Findings(t, joint, calibrated, issues, self_confidence(probs, labels), normalized_margin(probs, labels),
                    method)
