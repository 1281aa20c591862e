"""Find exact and near-duplicate faces across every source, and group them.

- exact: the same pixels (`pixel_sha256` of the grayscale crop);
- near: perceptual hashes (64-bit phash) within a Hamming distance `threshold`.

Near pairs are found by the pigeonhole principle instead of comparing every pair: split the 64 bits
into threshold+1 chunks; two hashes within the threshold agree exactly on at least one chunk. So only
hashes sharing a chunk value are compared, with numpy, one chunk at a time. Linked faces are joined
into groups (union-find); a group's id is its smallest face id, so re-running gives the same ids.

Nothing is deleted: the groups are stored on the faces (`dup_group`), shown to the labeler and kept
whole inside one split by curation.split.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from db.catalog import Catalog
from db.types import FaceFilter, FaceRow

DEFAULT_THRESHOLD = 6
HASH_BITS = 64

# Bits set in each byte value: popcount of a uint64 array is 8 table look-ups.
_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint8)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bitwise Hamming distance of two uint64 arrays, element by element."""
    x = np.ascontiguousarray(np.bitwise_xor(a, b))
    return _POPCOUNT8[x.view(np.uint8)].reshape(-1, 8).sum(axis=1)


def _chunks(threshold: int) -> list[tuple[int, int]]:
    """(shift, width) of threshold+1 nearly equal bit ranges covering 64 bits."""
    n = threshold + 1
    bounds = [round(i * HASH_BITS / n) for i in range(n + 1)]
    return [(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:])]


def near_pairs(hashes: np.ndarray, threshold: int) -> np.ndarray:
    """Index pairs (i, j), i != j, of distinct hashes within `threshold` bits; shape (k, 2).

    Pairs may repeat (two hashes can share several chunks); union-find does not mind.
    """
    found = [np.empty((0, 2), dtype=np.int64)]
    if threshold <= 0 or len(hashes) < 2:
        return found[0]
    for shift, width in _chunks(threshold):
        key = (hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)
        order = np.argsort(key, kind="stable")
        skey, shash = key[order], hashes[order]
        # Equal keys are contiguous after sorting: compare each hash with the one d places on,
        # for d = 1, 2, ... until no run of equal keys is that long.
        d = 1
        while d < len(order):
            same = np.flatnonzero(skey[:-d] == skey[d:])
            if same.size == 0:
                break
            close = same[hamming(shash[same], shash[same + d]) <= threshold]
            if close.size:
                found.append(np.stack([order[close], order[close + d]], axis=1))
            d += 1
    return np.concatenate(found)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def find_groups(face_ids: Sequence[int], phashes: Sequence[str], pixel_sha256s: Sequence[str],
                threshold: int = DEFAULT_THRESHOLD) -> list[list[int]]:
    """Groups (two faces or more) of duplicate faces, each a sorted list of face ids; the groups
    are sorted by their first id."""
    n = len(face_ids)
    uf = _UnionFind(n)
    first_by_pixels: dict[str, int] = {}
    for i, sha in enumerate(pixel_sha256s):
        uf.union(i, first_by_pixels.setdefault(sha, i))
    hashes = np.array([int(h, 16) for h in phashes], dtype=np.uint64)
    # Equal hashes are distance 0: link them directly, then search near pairs among distinct values.
    values, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    for i, rep in enumerate(first[inverse].tolist()):
        uf.union(i, rep)
    for a, b in near_pairs(values, threshold).tolist():
        uf.union(int(first[a]), int(first[b]))
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(uf.find(i), []).append(face_ids[i])
    groups = [sorted(g) for g in members.values() if len(g) > 1]
    return sorted(groups, key=lambda g: g[0])


@dataclass(frozen=True)
class DuplicateGroup:
    id: int  # the smallest face id in the group
    faces: list[FaceRow]
    exact: bool  # every face has the same pixels
    labels: dict[str, int]  # label -> faces with it (unlabeled faces left out)

    @property
    def conflict(self) -> bool:
        """The faces carry different labels: someone has to decide."""
        return len(self.labels) > 1

    @property
    def cross_split(self) -> bool:
        """The faces' split hints differ (FER2013 has copies across Training and PublicTest)."""
        return len({f.split_hint for f in self.faces}) > 1

    def as_dict(self) -> dict:
        return {
            "id": self.id, "size": len(self.faces), "exact": self.exact, "conflict": self.conflict,
            "cross_split": self.cross_split, "labels": self.labels,
            "faces": [
                {"id": f.id, "source": f.source_name, "label": f.label, "status": f.status.value,
                 "split_hint": f.split_hint, "dataset_path": f.dataset_path, "url": f.url}
                for f in self.faces
            ],
        }


@dataclass(frozen=True)
class DedupeReport:
    faces: int  # faces compared
    threshold: int
    groups: list[DuplicateGroup]

    def summary(self) -> dict:
        return {
            "faces": self.faces,
            "threshold": self.threshold,
            "groups": len(self.groups),
            "exact_groups": sum(g.exact for g in self.groups),
            "near_groups": sum(not g.exact for g in self.groups),
            "faces_in_groups": sum(len(g.faces) for g in self.groups),
            "conflicting_groups": sum(g.conflict for g in self.groups),
            "cross_split_groups": sum(g.cross_split for g in self.groups),
            "conflicts_by_sources": self.conflicts_by_sources(),
        }

    def conflicts_by_sources(self) -> list[dict]:
        """Conflicting groups counted by the sources their faces come from, most first:
        [{"sources": ["fer2013"], "groups": 230}, {"sources": ["bing: sad face", "fer2013"], "groups": 3}]."""
        counts = Counter(tuple(sorted({f.source_name for f in g.faces})) for g in self.groups if g.conflict)
        return [{"sources": list(names), "groups": n}
                for names, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]

    def as_dict(self) -> dict:
        return {**self.summary(), "duplicate_groups": [g.as_dict() for g in self.groups]}


def dedupe(catalog: Catalog, threshold: int = DEFAULT_THRESHOLD, store: bool = True,
           progress=None) -> DedupeReport:
    """Group the catalog's faces (deleted ones left out) and, with store, save the groups on them
    (replacing every earlier grouping). `progress` (a tqdm-like bar) is advanced per face read."""
    faces: list[FaceRow] = []
    for face in catalog.iter_faces(FaceFilter(), batch=5000):
        faces.append(face)
        if progress is not None:
            progress.update(1)
    groups = find_groups([f.id for f in faces], [f.phash for f in faces], [f.pixel_sha256 for f in faces],
                         threshold)
    by_id = {f.id: f for f in faces}
    report = DedupeReport(len(faces), threshold, [_describe([by_id[i] for i in g]) for g in groups])
    if store:
        catalog.set_duplicate_groups({f.id: g.id for g in report.groups for f in g.faces})
    return report


def _describe(faces: list[FaceRow]) -> DuplicateGroup:
    labels = Counter(f.label for f in faces if f.label is not None)
    return DuplicateGroup(
        id=faces[0].id, faces=faces, exact=len({f.pixel_sha256 for f in faces}) == 1,
        labels=dict(sorted(labels.items())),
    )
