"""Split faces into train / val / test: stratified by class, deterministic, duplicate-group aware.

A "group" is every face linked by a stored duplicate group (`curate dedupe`) or by identical pixels
(so exact copies stay together even before dedupe ran). A whole group always lands in one split, so
no face leaks from train into test.

- Ratios (`80/10/10`): within each class, groups are ordered by a hash of (seed, the group's pixels)
  and each goes to the split furthest below its share. Hashing content rather than ids gives the same
  split for the same faces in another catalog.
- `keep`: each face's split hint (FER2013's Usage) decides; see HINT_SPLITS. A face without a hint
  goes to train. A group whose hints disagree goes, whole, to its most held-out split (test, then
  val), so a published test set stays complete and its copies leave train.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass

SPLITS = ("train", "val", "test")
KEEP = "keep"

# Split hints as datasets spell them (lower-cased) -> our split.
HINT_SPLITS = {
    "training": "train", "train": "train",
    "publictest": "val", "val": "val", "validation": "val",
    "privatetest": "test", "test": "test",
}
NO_HINT_SPLIT = "train"


@dataclass(frozen=True)
class SplitSpec:
    ratios: tuple[float, float, float] | None  # fractions of train, val, test; None: keep the hints
    seed: int = 0


@dataclass(frozen=True)
class SplitItem:
    face_id: int
    label: str
    dup_group: int | None
    pixel_sha256: str
    split_hint: str | None = None


@dataclass(frozen=True)
class SplitResult:
    splits: dict[int, str]  # face id -> "train" | "val" | "test"
    moved_by_group: int  # keep: faces whose own hint lost to their group's split


def parse_split(text: str, seed: int = 0) -> SplitSpec:
    """`80/10/10` (any three non-negative numbers, normalised) or `keep`. ValueError if neither."""
    if text.strip().lower() == KEEP:
        return SplitSpec(None, seed)
    parts = text.split("/")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values) or sum(values) <= 0:
        raise ValueError(f"bad split {text!r}: write TRAIN/VAL/TEST percentages like 80/10/10, or keep")
    total = sum(values)
    return SplitSpec((values[0] / total, values[1] / total, values[2] / total), seed)


def duplicate_groups(items: list[SplitItem]) -> list[list[SplitItem]]:
    """Items linked by a stored duplicate group or identical pixels, each group in face-id order."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_by_key: dict[tuple[str, object], int] = {}
    for i, it in enumerate(items):
        keys = [("p", it.pixel_sha256)] + ([("g", it.dup_group)] if it.dup_group is not None else [])
        for key in keys:
            j = first_by_key.setdefault(key, i)
            if j != i:
                parent[find(i)] = find(j)
    groups: dict[int, list[SplitItem]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[find(i)].append(it)
    return [sorted(g, key=lambda it: it.face_id) for g in groups.values()]


def _majority_label(group: list[SplitItem]) -> str:
    counts = Counter(it.label for it in group)
    return min(counts, key=lambda k: (-counts[k], k))


def _order_key(group: list[SplitItem], seed: int) -> str:
    return hashlib.sha256(f"{seed}:{min(it.pixel_sha256 for it in group)}".encode()).hexdigest()


def _split_by_ratios(groups: list[list[SplitItem]], spec: SplitSpec) -> SplitResult:
    strata: dict[str, list[list[SplitItem]]] = defaultdict(list)
    for g in groups:
        strata[_majority_label(g)].append(g)
    splits: dict[int, str] = {}
    for label in sorted(strata):
        stratum = sorted(strata[label], key=lambda g: _order_key(g, spec.seed))
        total = sum(len(g) for g in stratum)
        filled = [0, 0, 0]
        for g in stratum:
            # The split furthest below its share takes the group (ties: train, val, test).
            deficits = [spec.ratios[k] * total - filled[k] for k in range(3)]
            k = max(range(3), key=lambda k: (deficits[k], -k))
            filled[k] += len(g)
            for it in g:
                splits[it.face_id] = SPLITS[k]
    return SplitResult(splits, 0)


def _hint_split(hint: str | None) -> str:
    return NO_HINT_SPLIT if hint is None else HINT_SPLITS[hint.strip().lower()]


def _split_by_hints(groups: list[list[SplitItem]]) -> SplitResult:
    unknown = sorted({it.split_hint for g in groups for it in g
                      if it.split_hint is not None and it.split_hint.strip().lower() not in HINT_SPLITS})
    if unknown:
        raise ValueError(f"unknown split hint(s): {', '.join(unknown)}; known: Training, PublicTest, "
                         "PrivateTest, train, val, test")
    splits: dict[int, str] = {}
    moved = 0
    for g in groups:
        own = [_hint_split(it.split_hint) for it in g]
        hinted = [s for s, it in zip(own, g) if it.split_hint is not None]
        target = max(hinted, key=SPLITS.index) if hinted else NO_HINT_SPLIT
        moved += sum(s != target for s in own)
        for it in g:
            splits[it.face_id] = target
    return SplitResult(splits, moved)


def assign_splits(items: list[SplitItem], spec: SplitSpec) -> SplitResult:
    groups = duplicate_groups(items)
    if spec.ratios is None:
        return _split_by_hints(groups)
    return _split_by_ratios(groups, spec)


def assign_folds(items: list[SplitItem], k: int, seed: int = 0) -> dict[int, int]:
    """Face id -> fold 0..k-1 for K-fold cross-validation: stratified by class, deterministic, and a
    whole duplicate group (stored group or identical pixels) always in one fold, as in the splits.

    Within each class, groups are ordered by the same content hash as the splits, and each goes to
    the fold with the fewest faces of that class so far (ties: the lowest fold).
    """
    if k < 2:
        raise ValueError(f"cross-validation needs at least 2 folds, not {k}")
    strata: dict[str, list[list[SplitItem]]] = defaultdict(list)
    for g in duplicate_groups(items):
        strata[_majority_label(g)].append(g)
    folds: dict[int, int] = {}
    for label in sorted(strata):
        filled = [0] * k
        for g in sorted(strata[label], key=lambda g: _order_key(g, seed)):
            f = min(range(k), key=lambda f: (filled[f], f))
            filled[f] += len(g)
            for it in g:
                folds[it.face_id] = f
    return folds
