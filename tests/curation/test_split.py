"""curation.split and curation.selection: the one selection + split logic export and training share."""
from __future__ import annotations

from collections import Counter

import pytest

from curation.dedupe import dedupe
from curation.selection import SelectionError, SelectionSpec, parse_class_map, parse_names, select_split
from curation.split import SplitItem, assign_splits, duplicate_groups, parse_split
from db.types import Status
from tests.curation.conftest import FaceSpec, add_dataset, nudged, pattern


def _items(labels: list[str], groups: dict[int, int] | None = None, hints=None) -> list[SplitItem]:
    groups = groups or {}
    return [SplitItem(face_id=i + 1, label=label, dup_group=groups.get(i + 1), pixel_sha256=f"px{i}",
                      split_hint=(hints[i] if hints else None)) for i, label in enumerate(labels)]


def test_parse_split():
    assert parse_split("80/10/10").ratios == pytest.approx((0.8, 0.1, 0.1))
    assert parse_split("8/1/1", seed=3).ratios == pytest.approx((0.8, 0.1, 0.1))
    assert parse_split("100/0/0").ratios == (1.0, 0.0, 0.0)
    assert parse_split("KEEP").ratios is None
    for bad in ("80/20", "a/b/c", "0/0/0", "-10/60/50", ""):
        with pytest.raises(ValueError, match="bad split"):
            parse_split(bad)


def test_parse_class_map_and_names():
    assert parse_class_map("anger=angry, sadness=sad,contempt=") == {
        "anger": "angry", "sadness": "sad", "contempt": None}
    assert parse_class_map(None) == {} and parse_class_map("") == {}
    for bad in ("anger", "=x", "a=b,a=c"):
        with pytest.raises(SelectionError):
            parse_class_map(bad)
    assert parse_names(" happy, sad ,") == ("happy", "sad") and parse_names("") is None


def test_ratio_split_is_stratified_and_deterministic():
    labels = ["happy"] * 500 + ["sad"] * 300 + ["disgust"] * 30
    items = _items(labels)
    spec = parse_split("80/10/10", seed=0)
    first = assign_splits(items, spec).splits
    assert assign_splits(list(reversed(items)), spec).splits == first  # input order does not matter
    counts = Counter((label, first[it.face_id]) for it, label in zip(items, labels))
    for label, n in Counter(labels).items():
        for split, share in (("train", 0.8), ("val", 0.1), ("test", 0.1)):
            assert abs(counts[(label, split)] - share * n) <= 1, (label, split, counts)
    other_seed = assign_splits(items, parse_split("80/10/10", seed=1)).splits
    assert other_seed != first
    assert Counter(other_seed.values()) == Counter(first.values())


def test_duplicate_groups_never_cross_splits():
    labels = ["happy"] * 200 + ["sad"] * 200
    # Groups of 2..6 faces by stored dup_group, plus exact copies (same pixels) with no stored group.
    groups = {i: 1000 + i // 5 for i in range(1, 400, 3)}
    items = _items(labels, groups)
    items += [SplitItem(900 + i, "sad", None, f"px{i}", None) for i in range(0, 40, 4)]
    splits = assign_splits(items, parse_split("60/20/20", seed=7)).splits
    # The groups as built above, not as the code under test finds them: a face's stored group, and
    # each copy (900 + i) in the group of the face with its pixels (face i + 1).
    expected: dict[object, set[int]] = {}
    for fid in range(1, 401):
        expected.setdefault(groups.get(fid, ("alone", fid)), set()).add(fid)
    for i in range(0, 40, 4):
        expected[groups.get(i + 1, ("alone", i + 1))].add(900 + i)
    assert max(len(g) for g in expected.values()) >= 3 and {904} < expected[("alone", 5)]
    for group in expected.values():
        assert len({splits[fid] for fid in group}) == 1, group
    assert set(splits.values()) == {"train", "val", "test"}
    assert sorted(sorted(it.face_id for it in g) for g in duplicate_groups(items)) == \
        sorted(sorted(g) for g in expected.values())


def test_keep_uses_hints_and_sends_mixed_groups_to_the_held_out_split():
    hints = ["Training", "Training", "PublicTest", "PrivateTest", None, "Training", "PublicTest", None]
    # faces 6 and 7 (Training + PublicTest copies) are one group; 8 (no hint) is a copy of 4 (PrivateTest).
    items = _items(["happy"] * 8, groups={6: 1, 7: 1}, hints=hints)
    items[7] = SplitItem(8, "happy", None, "px3", None)
    result = assign_splits(items, parse_split("keep"))
    assert result.splits == {1: "train", 2: "train", 3: "val", 4: "test", 5: "train", 6: "val", 7: "val",
                             8: "test"}
    assert result.moved_by_group == 2  # face 6 left train for val, face 8 left train for test
    with pytest.raises(ValueError, match="unknown split hint.*Holdout"):
        assign_splits(_items(["happy"], hints=["Holdout"]), parse_split("keep"))


def _mixed_catalog(cat):
    a = add_dataset(cat, [FaceSpec(pattern(i), lab, hint) for i, (lab, hint) in enumerate(
        [("happy", "Training")] * 20 + [("sad", "Training")] * 10 + [("disgust", "PublicTest")] * 5
        + [("angry", "PrivateTest")] * 5)], source="fer")
    b = add_dataset(cat, [FaceSpec(pattern(100 + i), lab) for i, lab in enumerate(
        ["happy"] * 6 + [None] * 4)], source="scrape")
    return a, b


def test_select_split_filters_maps_and_orders_classes(catalog):
    fer, scrape = _mixed_catalog(catalog)
    sel = select_split(catalog, SelectionSpec())
    assert sel.classes == ["angry", "disgust", "happy", "sad"]  # taxonomy order, only classes present
    assert len(sel.assignments) == 46  # unlabeled faces are not "labeled"
    assert [a.face.id for a in sel.assignments] == sorted(a.face.id for a in sel.assignments)

    sel = select_split(catalog, SelectionSpec(class_map=parse_class_map("disgust=angry,sad="),
                                              sources=("fer",), split="keep"))
    assert sel.classes == ["angry", "happy"]
    assert sel.counts() == {"train": {"angry": 0, "happy": 20}, "val": {"angry": 5, "happy": 0},
                            "test": {"angry": 5, "happy": 0}}

    sel = select_split(catalog, SelectionSpec(classes=("sad", "happy")))
    assert sel.classes == ["sad", "happy"] and {a.label for a in sel.assignments} == {"sad", "happy"}
    assert sel.class_index() == {"sad": 0, "happy": 1}

    f = catalog.get_face(scrape[0], with_crop=False)
    catalog.annotate(f.id, f.version, "tester", status=Status.CONFIRMED)
    sel = select_split(catalog, SelectionSpec(status="confirmed"))
    assert [a.face.id for a in sel.assignments] == [scrape[0]]


@pytest.mark.parametrize("spec, message", [
    (SelectionSpec(classes=("joy",)), "unknown class"),
    (SelectionSpec(class_map={"joy": "happy"}), "class map names unknown"),
    (SelectionSpec(sources=("nope",)), "unknown source"),
    (SelectionSpec(split="70/30"), "bad split"),
    (SelectionSpec(status="deleted"), "unknown status"),
])
def test_select_split_refuses_bad_specs(catalog, spec, message):
    _mixed_catalog(catalog)
    with pytest.raises(SelectionError, match=message):
        select_split(catalog, spec)


def test_select_split_keeps_stored_duplicate_groups_together(catalog):
    base = [pattern(i) for i in range(30)]
    add_dataset(catalog, [FaceSpec(p, "happy") for p in base], source="a")
    add_dataset(catalog, [FaceSpec(nudged(p), "happy") for p in base], source="b")  # near copies
    dedupe(catalog)
    for seed in range(5):
        sel = select_split(catalog, SelectionSpec(split="50/25/25", seed=seed))
        by_group: dict[int, set[str]] = {}
        for a in sel.assignments:
            assert a.face.dup_group is not None
            by_group.setdefault(a.face.dup_group, set()).add(a.split)
        assert len(by_group) == 30 and all(len(s) == 1 for s in by_group.values())
