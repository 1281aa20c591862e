"""curate dedupe: exact and near duplicates grouped across sources, conflicts flagged, nothing deleted."""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from itertools import combinations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from curation.cli import main
from curation.crops import encode_crop
from curation.dedupe import dedupe, find_groups, hamming, near_pairs
from db.types import FaceFilter, NewFace, NewImage, NewSource, Status
from tests.curation.conftest import FaceSpec, add_dataset, nudged, pattern


def _brute_pairs(hashes: np.ndarray, threshold: int) -> set[tuple[int, int]]:
    return {(i, j) for i, j in combinations(range(len(hashes)), 2)
            if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= threshold}


@pytest.mark.parametrize("threshold", [1, 2, 4, 6, 9])
def test_near_pairs_finds_exactly_what_comparing_every_pair_finds(threshold):
    rng = np.random.default_rng(threshold)
    base = rng.integers(0, 2**63, 300, dtype=np.int64).astype(np.uint64)
    # Plant neighbours at distances 0..threshold+2 by flipping random bits of some hashes.
    planted = []
    for h in base[:150]:
        bits = rng.choice(64, size=rng.integers(1, threshold + 3), replace=False)
        planted.append(h ^ np.uint64(sum(1 << int(b) for b in bits)))
    hashes = np.unique(np.concatenate([base, np.array(planted, dtype=np.uint64)]))
    found = {tuple(sorted(p)) for p in near_pairs(hashes, threshold).tolist()}
    assert found == _brute_pairs(hashes, threshold)
    assert len(found) >= 50  # the planted pairs within the threshold are there


def test_hamming_counts_differing_bits():
    a = np.array([0, 0xFFFFFFFFFFFFFFFF, 0b1011], dtype=np.uint64)
    b = np.array([0, 0, 0b0001], dtype=np.uint64)
    assert hamming(a, b).tolist() == [0, 64, 2]


def test_find_groups_links_same_pixels_and_close_hashes_transitively():
    ids = [10, 11, 12, 13, 14, 15]
    phashes = ["0000000000000000", "0000000000000007", "000000000000003f", "ffffffffffffffff",
               "f0f0f0f0f0f0f0f0", "0f0f0f0f0f0f0f0f"]
    pixels = ["a", "b", "c", "d", "e", "d"]  # 13 and 15: same pixels, hashes far apart
    # 10-11: 3 bits, 11-12: 3 bits (10-12: 6 bits) -> one group at threshold 3 by transitivity.
    assert find_groups(ids, phashes, pixels, threshold=3) == [[10, 11, 12], [13, 15]]
    assert find_groups(ids, phashes, pixels, threshold=0) == [[13, 15]]
    assert find_groups([], [], [], threshold=6) == []


def _catalog_with_duplicates(cat):
    a, b, c = pattern(1), pattern(2), pattern(3)
    ids_x = add_dataset(cat, [FaceSpec(a, "happy", "Training"), FaceSpec(b, "sad", "Training"),
                              FaceSpec(c, "angry", "Training")], source="x")
    # Source y: an exact copy of a (same label), a near copy of b (other label: conflict), a new face.
    ids_y = add_dataset(cat, [FaceSpec(a.copy(), "happy", "PublicTest"), FaceSpec(nudged(b), "fear"),
                              FaceSpec(pattern(4), "happy")], source="y")
    return ids_x, ids_y


def test_dedupe_groups_across_sources_flags_conflicts_and_stores_groups(any_catalog):
    catalog = any_catalog
    (xa, xb, xc), (ya, yb, yd) = _catalog_with_duplicates(catalog)
    report = dedupe(catalog)
    groups = {tuple(f.id for f in g.faces): g for g in report.groups}
    assert set(groups) == {(xa, ya), (xb, yb)}
    exact, near = groups[(xa, ya)], groups[(xb, yb)]
    assert exact.exact and not exact.conflict and exact.cross_split and exact.labels == {"happy": 2}
    assert not near.exact and near.conflict and near.labels == {"fear": 1, "sad": 1}
    assert report.summary()["conflicting_groups"] == 1
    rows = {f.id: f for f in catalog.iter_faces()}
    assert rows[xa].dup_group == rows[ya].dup_group == xa  # the group id is its smallest face id
    assert rows[xb].dup_group == rows[yb].dup_group == xb
    assert rows[xc].dup_group is None and rows[yd].dup_group is None
    assert catalog.count_faces() == 6  # nothing deleted
    assert catalog.stats()["duplicate_groups"] == 2


def test_dedupe_again_replaces_groups_and_leaves_deleted_faces_out(catalog):
    (xa, xb, _), (ya, yb, _) = _catalog_with_duplicates(catalog)
    dedupe(catalog)
    face = catalog.get_face(yb, with_crop=False)
    catalog.annotate(yb, face.version, "tester", status=Status.DELETED)
    report = dedupe(catalog)
    assert [[f.id for f in g.faces] for g in report.groups] == [[xa, ya]]
    rows = {f.id: f for f in catalog.iter_faces(FaceFilter(include_deleted=True))}
    assert rows[xb].dup_group is None and rows[yb].dup_group is None


def test_dry_run_stores_nothing(catalog):
    _catalog_with_duplicates(catalog)
    report = dedupe(catalog, store=False)
    assert len(report.groups) == 2
    assert all(f.dup_group is None for f in catalog.iter_faces())


def _fer_byte_groups(root, n_groups: int) -> tuple[list[list], list]:
    """The first n_groups sets of byte-identical FER2013 files (sorted by path) and 200 unique files."""
    by_sha = defaultdict(list)
    for path in sorted(root.glob("*/*/*.jpg")):
        by_sha[hashlib.sha256(path.read_bytes()).digest()].append(path)
    dup_sets = [paths for paths in by_sha.values() if len(paths) > 1]
    singles = [paths[0] for paths in by_sha.values() if len(paths) == 1]
    conflicting = [p for p in dup_sets if len({x.parent.name for x in p}) > 1]
    agreeing = [p for p in dup_sets if len({x.parent.name for x in p}) == 1]
    half = n_groups // 2
    return conflicting[:half] + agreeing[: n_groups - half], singles[:200]


def test_dedupe_groups_real_fer2013_byte_identical_files(catalog, shared_data):
    dup_sets, singles = _fer_byte_groups(shared_data / "fer2013", 40)
    sid = catalog.add_source(NewSource(kind="dataset", name="fer2013", path=str(shared_data / "fer2013")))
    paths = [p for s in dup_sets for p in s] + singles
    refs = []
    for p in paths:
        sha, rel = catalog.blobs.put_bytes(p.read_bytes(), "JPEG")
        rel_path = str(p.relative_to(shared_data / "fer2013"))
        refs.append(catalog.add_image(NewImage(sha256=sha, blob_path=rel, width=48, height=48, format="JPEG",
                                               source_id=sid, dataset_path=rel_path)))
    faces = []
    for p, ref in zip(paths, refs):
        png, phash, pixel_sha = encode_crop(Image.open(p), 100)
        faces.append((ref.id, NewFace(bbox=(0, 0, 48, 48), crop_png=png, crop_size=100, phash=phash,
                                      pixel_sha256=pixel_sha, label=p.parent.name,
                                      split_hint=p.name.split("_")[0])))
    face_ids = catalog.add_faces(faces)
    id_of = dict(zip(map(str, paths), face_ids))

    report = dedupe(catalog, threshold=0)
    group_of = {f.id: g for g in report.groups for f in g.faces}
    for s in dup_sets:
        ids = [id_of[str(p)] for p in s]
        assert len({group_of[i].id for i in ids}) == 1, f"byte-identical files split up: {s}"
        g = group_of[ids[0]]
        assert g.exact
        assert g.conflict == (len({p.parent.name for p in s}) > 1)
    assert sum(g.conflict for g in report.groups) >= 20
    # At the default threshold the byte-identical sets are still whole (maybe merged with near copies).
    report6 = dedupe(catalog)
    group6 = {f.id: g.id for g in report6.groups for f in g.faces}
    for s in dup_sets:
        assert len({group6[id_of[str(p)]] for p in s}) == 1


def test_cli_dedupe_json_text_and_errors(catalog, tmp_path):
    _catalog_with_duplicates(catalog)
    loc = str(catalog.location.directory)
    runner = CliRunner()
    res = runner.invoke(main, ["dedupe", "--catalog", loc, "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["groups"] == 2 and data["conflicting_groups"] == 1 and data["stored"] is True
    assert data["conflicts_by_sources"] == [{"sources": ["x", "y"], "groups": 1}]
    assert {len(g["faces"]) for g in data["duplicate_groups"]} == {2}
    conflict = next(g for g in data["duplicate_groups"] if g["conflict"])
    assert {f["label"] for f in conflict["faces"]} == {"sad", "fear"}

    res = runner.invoke(main, ["dedupe", "--catalog", loc, "--dry-run", "--limit", "1"])
    assert res.exit_code == 0
    lines = res.output.splitlines()
    assert "2 duplicate groups (1 exact, 1 near)" in lines[0]
    assert lines[1] == "1 group with conflicting labels, 2 across split hints"
    assert lines[2:5] == ["conflicting groups by source:", "  x + y: 1 group", "groups, conflicting first:"]
    assert "CONFLICT group" in lines[5] and "sad x1" in lines[5]  # conflicts are listed first
    assert "1 more" in lines[6] and "dry run" in lines[-1]

    assert runner.invoke(main, ["dedupe", "--help"]).exit_code == 0
    assert runner.invoke(main, ["dedupe", "--catalog", loc, "--threshold", "40"]).exit_code == 2
    res = runner.invoke(main, ["dedupe", "--catalog", str(tmp_path / "missing")])
    assert res.exit_code == 1 and res.output.startswith("error:") and "Traceback" not in res.output


def test_the_report_says_which_sources_the_conflicts_come_from_before_any_list(catalog):
    a, b, c, d = (pattern(i) for i in (11, 12, 13, 14))
    add_dataset(catalog, [FaceSpec(a, "happy"), FaceSpec(nudged(a), "sad"),  # a conflict inside fer
                          FaceSpec(b, "angry"), FaceSpec(b.copy(), "fear"),  # another
                          FaceSpec(c, "happy"), FaceSpec(d, "neutral"), FaceSpec(d.copy(), "neutral")], source="fer")
    add_dataset(catalog, [FaceSpec(nudged(c), "sad")], source="web")  # a conflict across fer and web
    report = dedupe(catalog, store=False)
    assert report.summary()["conflicting_groups"] == 3
    assert report.conflicts_by_sources() == [{"sources": ["fer"], "groups": 2}, {"sources": ["fer", "web"], "groups": 1}]
    res = CliRunner().invoke(main, ["dedupe", "--catalog", str(catalog.location.directory), "--limit", "0"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[1:5] == ["3 groups with conflicting labels, 0 across split hints", "conflicting groups by source:",
                          "  fer: 2 groups", "  fer + web: 1 group"]
    groups = [i for i, line in enumerate(lines) if line.lstrip().startswith(("CONFLICT group", "group "))]
    assert len(groups) == 4 and min(groups) > 4  # the summary comes before any group
    assert all("CONFLICT" in lines[i] for i in groups[:3]) and "CONFLICT" not in lines[groups[3]]
