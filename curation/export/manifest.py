"""manifest.json: what an export holds and where every face came from.

It has no timestamps and no output path, so the same catalog and the same selection give a
byte-identical manifest; `snapshot_sha256` changes whenever a selected face's label, status,
pixels or duplicate group does.
"""
from __future__ import annotations

import hashlib
import json

from curation.selection import SplitAssignment, SplitSelection

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
MARKER = "facecat_export"  # its key holds MANIFEST_VERSION; --force replaces only folders with it


def snapshot_sha256(assignments: list[SplitAssignment]) -> str:
    """A hash of the selected faces' state in the catalog (ids, versions, labels, status, pixels)."""
    h = hashlib.sha256()
    for a in sorted(assignments, key=lambda a: a.face.id):
        f = a.face
        h.update(f"{f.id}:{f.version}:{f.status.value}:{f.label}:{f.pixel_sha256}:{f.dup_group}\n".encode())
    return h.hexdigest()


def counts(selection: SplitSelection) -> dict:
    """Faces per split and class, plus totals: what the catalog's export record keeps too."""
    per_split = selection.counts()
    return {
        **per_split,
        "total": {k: sum(per_split[s][k] for s in per_split) for k in selection.classes},
        "faces": len(selection.assignments),
    }


def build(fmt: str, size: int, selection: SplitSelection, placed: list[tuple[SplitAssignment, dict]]) -> bytes:
    """The manifest's bytes. `placed`: each exported face with where its writer put it."""
    head = {
        MARKER: MANIFEST_VERSION,
        "format": fmt,
        "size": size,
        "filters": selection.spec.as_dict(),
        "classes": selection.classes,
        "counts": counts(selection),
        "moved_by_group": selection.moved_by_group,
        "snapshot_sha256": snapshot_sha256(selection.assignments),
    }
    # Only when they apply, so that other manifests stay byte-identical to earlier ones.
    if selection.relabeled_by_review:
        head["relabeled_by_review"] = selection.relabeled_by_review
    if selection.spec.exclude_issues is not None:
        head["excluded_issues"] = selection.excluded_issues
    faces = [
        {
            "id": a.face.id, "split": a.split, "label": a.label, **where,
            "catalog_label": a.face.label, "status": a.face.status.value,
            "source": a.face.source_name, "source_kind": a.face.source_kind,
            "url": a.face.url, "dataset_path": a.face.dataset_path,
            "split_hint": a.face.split_hint, "dup_group": a.face.dup_group,
        }
        for a, where in placed
    ]
    # The summary indented for people, then one face per line: readable, and a tenth of the size.
    text = json.dumps({**head, "faces": []}, indent=1, ensure_ascii=False)
    lines = ",\n".join("  " + json.dumps(f, ensure_ascii=False) for f in faces)
    text = text.removesuffix('"faces": []\n}') + '"faces": [\n' + lines + "\n ]\n}\n"
    return text.encode("utf-8")
