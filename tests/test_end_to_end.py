"""The flow users come for, end to end on small real data: scrape + extract from the local image-search
look-alike -> review through the labeler's decision API -> import FER2013, JAFFE and a CK+-style
class-folder tree -> map their classes onto one taxonomy -> `train fit` -> more review -> fit again ->
`train compare` on the same held-out faces.

Every step is the real command (click's runner, in this process: TensorFlow starts once), real Chromium,
real dlib, real training (2 epochs on a few hundred faces). Needs ../shared/data.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from curation.cli import main as curate
from curation.selection import SelectionSpec, select_split
from db import open_catalog
from db.types import FaceFilter
from labeler.scripted import decide
from scraper.cli import main as scrape
from scraper.lookalike.bing import BingLookalike
from scraper.lookalike.site import Entry
from training.cli import main as train

pytestmark = pytest.mark.slow

os.environ.setdefault("SE_OFFLINE", "true")
QUERIES = {"happy human face": "happy", "surprised face": "surprise"}
CK_NAMES = {"anger": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "sadness": "sad",
            "surprise": "surprise", "contempt": "neutral"}  # CK+48's folders; contempt's faces: FER's neutral ones
FER_TRAIN, FER_TEST = 30, 8  # faces per class
SUBJECTS = ("KA", "KL", "KM")  # JAFFE subjects imported (63 photos)


def run(cli, *args):
    r = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r


def run_json(cli, *args):
    return json.loads(run(cli, *args, "--json").stdout)


def link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.symlink_to(src)


def datasets(shared: Path, root: Path) -> tuple[Path, Path, Path]:
    """Small real samples, as symbolic links into ../shared: FER2013 (train/ test/), JAFFE (three
    subjects), and a CK+-style tree (CK+48's class names) of other FER2013 faces, three of them the
    very files of the FER2013 sample (datasets overlap: those are cross-source duplicates)."""
    fer, jaffe, ck = root / "fer2013", root / "jaffe", root / "ck+48"
    for split, n in (("train", FER_TRAIN), ("test", FER_TEST)):
        for cls_dir in sorted((shared / "fer2013" / split).iterdir()):
            for f in sorted(cls_dir.glob("*.jpg"))[:n]:
                link(f, fer / split / cls_dir.name / f.name)
    for f in sorted((shared / "jaffe").glob("*.tiff")):
        if f.name.split(".")[0] in SUBJECTS:
            link(f, jaffe / f.name)
    for ck_name, fer_name in CK_NAMES.items():
        files = sorted((shared / "fer2013" / "train" / fer_name).glob("*.jpg"))
        picked = files[200:210] + (files[:3] if ck_name == "happy" else [])
        for f in picked:
            link(f, ck / ck_name / f"ck_{f.name}")
    return fer, jaffe, ck


def photo_site(shared: Path) -> BingLookalike:
    photos = sorted((shared / "photos" / "face_recognition" / "examples").glob("*.jp*g"))
    by_query, data = {}, {}
    for i, (query, _) in enumerate(QUERIES.items()):
        chosen = photos[4 * i: 4 * i + 4]
        by_query[query] = [Entry(p.stem) for p in chosen] + [Entry(f"gone{i}", kind="dead")]
        data.update({p.stem: p.read_bytes() for p in chosen})
    site = BingLookalike(by_query)
    site.bytes.update(data)
    return site


def scraped(cat, query: str):
    return list(cat.iter_faces(FaceFilter(selection="unreviewed", queries=(query,))))


def held_out(cat, card: dict) -> tuple[set[int], set[int]]:
    """(train ids, test ids) of a model's selection as the catalog stands now."""
    s = card["selection"]
    spec = SelectionSpec(status=s["status"], class_map=s["map"], split=s["split"], seed=s["seed"])
    sel = select_split(cat, spec)
    return ({a.face.id for a in sel.assignments if a.split == "train"},
            {a.face.id for a in sel.assignments if a.split == "test"})


def test_scrape_review_merge_fit_review_fit_compare(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("FACECAT_CACHE", str(tmp_path / "cache"))
    cat_dir = tmp_path / "catalog"
    fer, jaffe, ck = datasets(shared_data, tmp_path / "data")

    # 1. Scrape two queries from the look-alike with real Chromium, and extract their faces.
    site = photo_site(shared_data)
    with site.start() as server:
        out = run_json(scrape, *QUERIES, "--engine", "bing", "--base-url", server.url, "--catalog", cat_dir,
                       "--settle", "0.5")
    assert out["outcomes"] == {"ok": 8, "http_error": 2}
    run(curate, "extract", "--catalog", cat_dir, "--workers", "1")

    # 2. Review the first query's faces, as Enter in the labeler does.
    with open_catalog(cat_dir) as cat:
        happy = scraped(cat, "happy human face")
        first = decide(cat, happy, "confirm", annotator="tester", via="test")
        assert len(first.applied) == len(happy) > 0 and not first.conflicts
        assert {e.via for f in happy for e in cat.label_events(f.id)} == {"test"}

    # 3. Import the datasets, mapping their classes onto the catalog's taxonomy (FER2013's seven).
    run(curate, "import", "fer2013", fer, "--catalog", cat_dir)
    run(curate, "import", "jaffe", jaffe, "--catalog", cat_dir)
    refused = CliRunner().invoke(curate, ["import", "folders", str(ck), "--catalog", str(cat_dir), "--crop", "none"])
    assert refused.exit_code == 1 and "anger" in refused.output and "contempt" in refused.output
    run(curate, "import", "folders", ck, "--catalog", cat_dir, "--crop", "none", "--name", "ck+",
        "--map", "anger=angry,sadness=sad,contempt=")
    dedupe = run_json(curate, "dedupe", "--catalog", cat_dir)
    stats = run_json(curate, "stats", "--catalog", cat_dir)
    assert set(stats["by_source"]) == {"bing: happy human face", "bing: surprised face", "fer2013", "jaffe", "ck+"}
    assert stats["by_source"]["ck+"] == 6 * 10 + 3  # contempt dropped by the map
    assert dedupe["duplicate_groups"], "the CK+ tree shares three files with the FER2013 sample"

    # 4. The first model: disgust (FER2013's rarest class) merged into angry.
    models = tmp_path / "models"
    fit_args = ("--catalog", cat_dir, "--epochs", 2, "--seed", 0, "--map", "disgust=angry")
    run_json(train, "fit", "--out", models / "first", *fit_args)

    # 5. More review: the second query's faces confirmed, one imported face relabeled, one deleted.
    with open_catalog(cat_dir) as cat:
        surprised = scraped(cat, "surprised face")
        second = decide(cat, surprised, "confirm", annotator="tester", via="test")
        assert len(second.applied) == len(surprised) > 0
        (jaffe_face, other) = list(cat.iter_faces(FaceFilter(sources=("jaffe",))))[:2]
        assert decide(cat, [jaffe_face], "label", annotator="tester", via="test", label="neutral").applied
        assert decide(cat, [other], "delete", annotator="tester", via="test").applied

    # 6. The second model, same options, on the catalog as reviewed now.
    run_json(train, "fit", "--out", models / "second", *fit_args)
    cards = {n: json.loads((models / n / "model.json").read_text()) for n in ("first", "second")}

    # 7. Compared on the same held-out faces.
    compared = run_json(train, "compare", models / "first", models / "second", "--catalog", cat_dir, "--split", "test")
    assert [m["model"] for m in compared["models"]] == [str(models / "first"), str(models / "second")]
    with open_catalog(cat_dir) as cat:
        _, test_now = held_out(cat, cards["first"])
        trained_on = set(cards["first"]["training_faces"]["ids"]) | set(cards["second"]["training_faces"]["ids"])
        expected = test_now - trained_on
        assert expected and compared["faces"] == len(expected)
        assert compared["left_out_trained_on"] == len(test_now & trained_on)

        # No duplicate group (nor a copy with identical pixels) spans train and test.
        train_ids, test_ids = held_out(cat, cards["second"])
        assert train_ids == set(cards["second"]["training_faces"]["ids"])
        rows = {f.id: f for f in cat.faces_by_ids(sorted(train_ids | test_ids))}
        groups = {side: {rows[i].dup_group for i in ids if rows[i].dup_group is not None}
                  for side, ids in (("train", train_ids), ("test", test_ids))}
        assert not groups["train"] & groups["test"]
        assert not {rows[i].pixel_sha256 for i in train_ids} & {rows[i].pixel_sha256 for i in test_ids}
    # ... and the check is not vacuous: groups of several faces are among the selected ones.
    selected = train_ids | test_ids
    assert any(sum(f["id"] in selected for f in g["faces"]) > 1 for g in dedupe["duplicate_groups"])

    # 8. model.json records the merge: the sources, the class map, what review did.
    for card in cards.values():
        assert card["selection"]["map"] == {"disgust": "angry"}
        assert "disgust" not in card["classes"] and "angry" in card["classes"]
    first_sources, second_sources = (set(cards[n]["selection"]["by_source"]["train"]) for n in ("first", "second"))
    assert {"fer2013", "jaffe", "ck+", "bing: happy human face"} <= first_sources
    assert "bing: surprised face" not in first_sources and "bing: surprised face" in second_sources
    assert cards["second"]["review"]["reviewed"] > cards["first"]["review"]["reviewed"] > 0
