"""Which faces go into a curated set, under which class names, in which split.

One module for `curate export` and for training, so both see the same faces in the same splits:

    from curation.selection import SelectionSpec, select_split
    sel = select_split(catalog, SelectionSpec(status="labeled", split="80/10/10", seed=0))
    sel.classes                  # ["angry", "disgust", ...]: index = class id
    for a in sel.assignments:    # one SplitAssignment per face, in face-id order
        a.face.id, a.label, a.split

Filters become a db.types.FaceFilter; the class map (`anger=angry,contempt=`) renames or drops labels;
with status "labeled", a duplicate group's confirmed label wins over its unreviewed members' labels
(reviewed_labels_win); spec.exclude_issues leaves out a model's unresolved label issues; the split
itself is curation.split.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from curation.split import SPLITS, SplitItem, assign_splits, duplicate_groups, parse_split
from db.catalog import Catalog
from db.errors import CatalogError
from db.types import SELECTION_CONFIRMED, SELECTION_LABELED, FaceFilter, FaceRow, ModelInfo, Status

STATUSES = (SELECTION_LABELED, SELECTION_CONFIRMED)


class SelectionError(CatalogError):
    """A selection that cannot be made (unknown class, bad map or split): one line for the user."""


@dataclass(frozen=True)
class SelectionSpec:
    """What to select and how to split it. Plain values, so a manifest can record it as is."""

    status: str = SELECTION_LABELED  # "labeled" (has a label, not deleted) or "confirmed"
    classes: tuple[str, ...] | None = None  # keep only these classes (names after the map)
    class_map: Mapping[str, str | None] = field(default_factory=dict)  # label -> new name, None drops
    sources: tuple[str, ...] | None = None  # source names
    split: str = "80/10/10"  # "TRAIN/VAL/TEST" percentages, or "keep" (the faces' split hints)
    seed: int = 0
    # Only these faces (the labeler exports its current filter); `faces_from` says what they are.
    face_ids: frozenset[int] | None = None
    faces_from: str | None = None
    # Leave out the faces this model's predictions flag as label issues that nobody has confirmed
    # since (`train suggest`; Catalog.unresolved_issues): a model id.
    exclude_issues: int | None = None

    def as_dict(self) -> dict:
        out = {
            "status": self.status,
            "classes": list(self.classes) if self.classes is not None else None,
            "map": dict(sorted(self.class_map.items())),
            "sources": list(self.sources) if self.sources is not None else None,
            "split": self.split,
            "seed": self.seed,
        }
        if self.face_ids is not None:  # (absent otherwise: earlier manifests stay byte-identical)
            out["only_faces"] = {"from": self.faces_from, "count": len(self.face_ids)}
        if self.exclude_issues is not None:  # (likewise)
            out["exclude_issues"] = {"model_id": self.exclude_issues}
        return out

    @staticmethod
    def from_dict(d: dict) -> "SelectionSpec":
        """The spec as_dict recorded (a manifest, model.json, crossval.json); `only_faces` records a
        count, not the ids, so it is not restored."""
        return SelectionSpec(status=d["status"], classes=tuple(d["classes"]) if d.get("classes") else None,
                             class_map=d.get("map") or {}, sources=tuple(d["sources"]) if d.get("sources") else None,
                             split=d["split"], seed=d["seed"],
                             exclude_issues=(d.get("exclude_issues") or {}).get("model_id"))


@dataclass(frozen=True)
class SplitAssignment:
    face: FaceRow  # with provenance (source, url, dataset path) and annotation
    label: str  # the class after the map
    split: str  # "train", "val" or "test"


@dataclass(frozen=True)
class SplitSelection:
    spec: SelectionSpec
    classes: list[str]  # class names; a face's class id is its label's index here
    assignments: list[SplitAssignment]
    moved_by_group: int = 0  # --split keep: faces moved to their duplicate group's split
    relabeled_by_review: int = 0  # status labeled: faces that took their group's confirmed label
    excluded_issues: int = 0  # faces left out as unresolved label issues (spec.exclude_issues)

    def counts(self) -> dict[str, dict[str, int]]:
        """Faces per split and class: {"train": {"angry": 3, ...}, "val": ..., "test": ...}."""
        c = Counter((a.split, a.label) for a in self.assignments)
        return {s: {k: c[(s, k)] for k in self.classes} for s in SPLITS}

    def class_index(self) -> dict[str, int]:
        return {k: i for i, k in enumerate(self.classes)}


def parse_class_map(text: str | None) -> dict[str, str | None]:
    """`anger=angry,sadness=sad,contempt=` -> {"anger": "angry", "sadness": "sad", "contempt": None}."""
    out: dict[str, str | None] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        old, sep, new = part.partition("=")
        old, new = old.strip(), new.strip()
        if not sep or not old:
            raise SelectionError(f"bad class map entry {part!r}: write OLD=NEW, or OLD= to drop a class")
        if old in out:
            raise SelectionError(f"class {old!r} appears twice in the class map")
        out[old] = new or None
    return out


def parse_names(text: str | None) -> tuple[str, ...] | None:
    """`happy, sad` -> ("happy", "sad"); empty or None -> None (no restriction)."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    return names or None


def check_names(catalog: Catalog, sources: Sequence[str] | None = None, queries: Sequence[str] | None = None) -> None:
    """Refuse --source / --query names the catalog does not have (a typo must not select nothing
    and succeed), listing the known ones."""
    known_sources = catalog.sources()
    for what, given, known in (("source", sources, {s.name for s in known_sources}),
                               ("query", queries, {s.query for s in known_sources if s.query})):
        unknown = sorted(set(given or ()) - known)
        if unknown:
            names = sorted(known)
            listed = ", ".join(map(repr, names[:20])) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
            raise SelectionError(f"unknown {what}(s): {', '.join(map(repr, unknown))}; "
                                 f"known: {listed or 'none'} (see `curate stats`)")


def face_filter(spec: SelectionSpec) -> FaceFilter:
    if spec.status not in STATUSES:
        raise SelectionError(f"unknown status {spec.status!r}; use one of: {', '.join(STATUSES)}")
    return FaceFilter(selection=spec.status, sources=spec.sources)


def _class_order(catalog_classes: list[str], spec: SelectionSpec, present: set[str]) -> list[str]:
    """--classes order when given; else the catalog's taxonomy order (renamed by the map), then any
    other label, limited to classes that have faces."""
    if spec.classes is not None:
        return list(spec.classes)
    order: list[str] = []
    for name in catalog_classes:
        mapped = spec.class_map.get(name, name)
        if mapped is not None and mapped not in order:
            order.append(mapped)
    order += sorted(present - set(order))
    return [k for k in order if k in present]


def issues_model(catalog: Catalog, ref: str | None) -> ModelInfo:
    """The model whose label issues --exclude-issues leaves out: `ref` (a name, id or directory),
    else the newest model with stored predictions (the one the labeler shows)."""
    if ref is not None:
        info = catalog.get_model(ref)
        if info is None:
            raise SelectionError(f"no model {ref!r} in {catalog.display} (`train list` lists them)")
        return info
    found = catalog.models_with_predictions()
    if not found:
        raise SelectionError(f"--exclude-issues: no model has stored predictions in {catalog.display}; "
                             "run `train suggest` first")
    return found[0]


def reviewed_labels_win(mapped: list[tuple[FaceRow, str]]) -> tuple[list[tuple[FaceRow, str]], int]:
    """Inside a duplicate group (a stored group or identical pixels), the label people confirmed wins:
    when the group's confirmed faces agree on one label, its unreviewed and uncertain members take
    it too. A group whose confirmed faces disagree, or that has none, keeps its labels. Returns the
    faces with their labels and how many labels changed."""
    by_id = {f.id: (f, label) for f, label in mapped}
    winners: dict[int, str] = {}
    items = [SplitItem(f.id, label, f.dup_group, f.pixel_sha256) for f, label in mapped]
    for group in duplicate_groups(items):
        if len(group) < 2:
            continue
        confirmed = {by_id[it.face_id][1] for it in group if by_id[it.face_id][0].status is Status.CONFIRMED}
        if len(confirmed) == 1:
            (label,) = confirmed
            winners.update({it.face_id: label for it in group if it.label != label})
    return [(f, winners.get(f.id, label)) for f, label in mapped], len(winners)


def select_split(catalog: Catalog, spec: SelectionSpec) -> SplitSelection:
    """Select faces by spec, rename their labels by the map, keep the wanted classes, split them.

    Deterministic: the same catalog and spec give the same assignments, in face-id order.
    """
    try:
        split_spec = parse_split(spec.split, spec.seed)
    except ValueError as exc:
        raise SelectionError(str(exc)) from None
    check_names(catalog, sources=spec.sources)
    faces = list(catalog.iter_faces(face_filter(spec)))
    if spec.face_ids is not None:
        faces = [f for f in faces if f.id in spec.face_ids]
    excluded = 0
    if spec.exclude_issues is not None:
        unresolved = catalog.unresolved_issues(spec.exclude_issues)
        kept = [f for f in faces if f.id not in unresolved]
        excluded, faces = len(faces) - len(kept), kept
    labels_here = {f.label for f in faces} | set(catalog.class_names())
    unknown = sorted(set(spec.class_map) - labels_here)
    if unknown:
        raise SelectionError(f"class map names unknown class(es): {', '.join(unknown)}")
    mapped = [(f, spec.class_map.get(f.label, f.label)) for f in faces]
    mapped = [(f, label) for f, label in mapped if label is not None]
    relabeled = 0
    if spec.status == SELECTION_LABELED:
        mapped, relabeled = reviewed_labels_win(mapped)
    if spec.classes is not None:
        targets = {v for v in spec.class_map.values() if v} | labels_here
        unknown = sorted(set(spec.classes) - targets)
        if unknown:
            raise SelectionError(f"unknown class(es): {', '.join(unknown)}; classes are: "
                                 f"{', '.join(catalog.class_names())}")
        wanted = set(spec.classes)
        mapped = [(f, label) for f, label in mapped if label in wanted]
    classes = _class_order(catalog.class_names(), spec, {label for _, label in mapped})
    items = [SplitItem(f.id, label, f.dup_group, f.pixel_sha256, f.split_hint) for f, label in mapped]
    try:
        result = assign_splits(items, split_spec)
    except ValueError as exc:  # unknown split hints
        raise SelectionError(str(exc)) from None
    assignments = [
        SplitAssignment(face=f, label=label, split=result.splits[f.id]) for f, label in mapped
    ]
    return SplitSelection(spec=spec, classes=classes, assignments=assignments,
                          moved_by_group=result.moved_by_group, relabeled_by_review=relabeled,
                          excluded_issues=excluded)
