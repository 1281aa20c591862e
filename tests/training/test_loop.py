"""The model in the loop on real FER2013 faces: `train suggest --cross-val` (no face predicted by a
model that saw it or its duplicates; a killed run carried on), `train suggest MODEL` (in-sample
faces marked, bad inputs refused), `train issues`, `curate export --exclude-issues`, and a fit that
records what review changed."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from curation.cli import main as curate
from curation.selection import SelectionSpec, select_split
from db import open_catalog
from db.types import DecisionContext, FaceFilter, Status
from tests.training.conftest import invoke
from training import modelio
from training.cli import main as train

pytestmark = pytest.mark.slow


def _copy_catalog(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _plant_groups(catalog: Path) -> list[list[int]]:
    """Duplicate groups across classes (three Training faces of three classes each), and one
    linking a PublicTest face to a Training face: what `curate dedupe` stores."""
    with open_catalog(catalog) as cat:
        faces = list(cat.iter_faces(FaceFilter(selection="labeled")))
        by_label = defaultdict(list)
        for f in faces:
            if f.split_hint == "Training":
                by_label[f.label].append(f.id)
        groups = [[by_label[k][g] for k in ("happy", "sad", "angry")] for g in range(5)]
        public = next(f.id for f in faces if f.split_hint == "PublicTest")
        groups.append([public, by_label["neutral"][0]])
        cat.set_duplicate_groups({fid: 1000 + g for g, members in enumerate(groups) for fid in members},
                                 clear_others=False)
    return groups


def _groups_of(catalog: Path) -> dict[int, set[int]]:
    """Face id -> every face sharing its stored group or its pixels (itself included)."""
    with open_catalog(catalog) as cat:
        faces = list(cat.iter_faces(FaceFilter(include_deleted=True)))
    by_key = defaultdict(set)
    for f in faces:
        by_key[("p", f.pixel_sha256)].add(f.id)
        if f.dup_group is not None:
            by_key[("g", f.dup_group)].add(f.id)
    mates = {f.id: {f.id} for f in faces}
    for members in by_key.values():
        for fid in members:
            mates[fid] |= members
    return mates


@pytest.fixture(scope="module")
def cv_run(fer_small, tmp_path_factory):
    """A copy of fer_small with planted duplicate groups, cross-validated (3 folds, 1 epoch, --split
    keep: Training folded, PublicTest predicted by the folds' mean): (catalog, run dir, JSON)."""
    root = tmp_path_factory.mktemp("loop")
    catalog = _copy_catalog(fer_small[0], root / "catalog")
    groups = _plant_groups(catalog)
    run = root / "cv3"
    r = invoke(train, ["suggest", "--catalog", catalog, "--cross-val", 3, "--out", run, "--split", "keep",
                       "--epochs", 1, "--json"])
    assert r.exit_code == 0, r.output
    return catalog, run, json.loads(r.stdout), groups


def test_cross_val_never_predicts_a_face_with_a_model_that_saw_it_or_its_duplicates(cv_run):
    catalog, run, result, groups = cv_run
    mates = _groups_of(catalog)
    saved = json.loads((run / "crossval.json").read_text())
    folds = {int(n): set(ids) for n, ids in saved["folds"].items()}
    outside = set(saved["outside"])
    with open_catalog(catalog) as cat:
        labeled = {f.id for f in cat.iter_faces(FaceFilter(selection="labeled"))}
        info = cat.get_model(run)
        preds = cat.predictions(info.id)
    assert info.kind == "cross-val" and result["kind"] == "cross-val" and len(folds) == 3
    assert set().union(*folds.values()) | outside == labeled == set(preds)  # every labeled face, once
    assert sum(len(v) for v in folds.values()) + len(outside) == len(labeled)
    assert not any(p.in_sample for p in preds.values())
    for members in groups[:5]:  # each planted group inside one fold
        assert sum(bool(set(members) & ids) for ids in folds.values()) == 1
    assert set(groups[5]) <= outside  # the PublicTest face took its Training duplicate out of the folds
    for n, held in folds.items():
        trained = modelio.read_card(run / f"fold-{n}").training_ids()
        assert trained and trained <= labeled - held - outside
        for fid in held | outside:
            assert not (mates[fid] & trained), f"fold {n} trained on a duplicate of face {fid}"
        # The stored probabilities are that fold model's, for the faces it held out.
        with np.load(run / f"fold-{n}" / "predictions.npz") as d:
            for fid, row in zip(d["held_ids"][:20], d["held"][:20]):
                stored = preds[int(fid)].probabilities
                np.testing.assert_allclose([stored[k] for k in info.classes], row, atol=1e-6)


def test_cross_val_flags_are_in_the_catalog_and_train_issues_ranks_them(cv_run):
    catalog, run, result, _ = cv_run
    with open_catalog(catalog) as cat:
        info = cat.get_model(run)
        flagged = cat.issue_face_ids(info.id)
    assert result["issues"] == len(flagged) > 0 and result["checked"] == result["stored"]
    r = invoke(train, ["issues", run, "--catalog", catalog, "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)
    assert listed["flagged"] == len(flagged) and sorted(i["face_id"] for i in listed["issues"]) == flagged
    scores = [i["self_confidence"] for i in listed["issues"]]
    assert scores == sorted(scores)
    assert all(i["model_says"] != i["label"] for i in listed["issues"])
    r = invoke(train, ["issues", str(info.id), "--catalog", catalog, "--top", 3, "--rank", "margin"])
    assert r.exit_code == 0 and r.output.count("fer2013: ") == 3, r.output
    r = invoke(train, ["list", "--catalog", catalog])
    assert "cv3" in r.output and f"{result['accuracy']:.1%}" in r.output


def test_export_exclude_issues_drops_flagged_faces_nobody_confirmed_since(cv_run, tmp_path):
    src, run, _, _ = cv_run
    catalog = _copy_catalog(src, tmp_path / "catalog")
    with open_catalog(catalog) as cat:
        flagged = cat.issue_face_ids(cat.get_model(run).id)

    def exported(name: str, *extra) -> set[int]:
        r = invoke(curate, ["export", tmp_path / name, "--catalog", catalog, "--split", "keep", "--format", "npz",
                            *extra])
        assert r.exit_code == 0, r.output
        with np.load(tmp_path / name / "faces.npz") as d:
            return set(d["face_ids"].tolist())

    everything = exported("all")
    clean = exported("clean", "--exclude-issues")
    assert everything - clean == set(flagged)
    manifest = json.loads((tmp_path / "clean" / "manifest.json").read_text())
    assert manifest["excluded_issues"] == len(flagged) and manifest["filters"]["exclude_issues"]["model_id"]
    # A person confirms one flagged face (as it is) and relabels another but leaves it uncertain.
    kept, unsure = flagged[0], flagged[1]
    with open_catalog(catalog) as cat:
        a, b = cat.get_face(kept, with_crop=False), cat.get_face(unsure, with_crop=False)
        cat.annotate(kept, a.version, "ann", status=Status.CONFIRMED)
        cat.annotate(unsure, b.version, "ann", label="surprise" if b.label != "surprise" else "happy",
                     status=Status.UNCERTAIN)
    again = exported("again", "--exclude-issues", "--issues-model", run)
    assert everything - again == set(flagged) - {kept}
    r = invoke(curate, ["export", tmp_path / "x", "--catalog", catalog, "--exclude-issues", "--issues-model", "nope"])
    assert r.exit_code == 1 and "no model 'nope'" in r.output and not (tmp_path / "x").exists()


def test_train_fit_records_what_review_changed_and_a_groups_confirmed_label_wins(cv_run, tmp_path):
    src, run, _, groups = cv_run
    catalog = _copy_catalog(src, tmp_path / "catalog")
    with open_catalog(catalog) as cat:
        model = cat.get_model(run)
        preds = cat.predictions(model.id)
        # The labeler's decisions after the suggestion: two relabeled to the model's class, one kept.
        train_ids = [fid for fid in sorted(preds) if cat.get_face(fid, with_crop=False).split_hint == "Training"]
        grouped = set().union(*map(set, groups))
        train_ids = [fid for fid in train_ids if fid not in grouped]
        changed = [fid for fid in train_ids if preds[fid].label != cat.get_face(fid, with_crop=False).label][:2]
        kept = next(fid for fid in train_ids if fid not in changed)
        for fid in changed + [kept]:
            f, p = cat.get_face(fid, with_crop=False), preds[fid]
            ctx = DecisionContext(via="labeler", model_id=model.id, predicted_label=p.label,
                                  predicted_confidence=p.confidence)
            cat.annotate(fid, f.version, "ann", label=p.label if fid in changed else f.label,
                         status=Status.CONFIRMED, context=ctx)
        # In a planted group (happy, sad, angry), the sad face is confirmed: the others take "sad".
        happy, sad, angry = groups[0]
        f = cat.get_face(sad, with_crop=False)
        cat.annotate(sad, f.version, "ann", status=Status.CONFIRMED)
    out = tmp_path / "fit"
    r = invoke(train, ["fit", "--catalog", catalog, "--out", out, "--split", "keep", "--epochs", 1, "--json"])
    assert r.exit_code == 0, r.output
    card = json.loads((out / "model.json").read_text())
    review = card["review"]
    assert review["reviewed"] == 4 and review["after_suggestion"] == 3
    assert review["changed_after_suggestion"] == 2 == review["to_model_class"] == review["relabeled"]
    assert sum(review["changes"].values()) == 2 and review["by_model"] == {str(model.id): 3}
    assert card["selection"]["relabeled_by_review"] == 2 and "excluded_issues" not in card["selection"]
    with open_catalog(catalog) as cat:
        train_labels = {a.face.id: a.label for a in select_split(cat, SelectionSpec(split="keep")).assignments}
        left_out = cat.unresolved_issues(model.id)
    assert train_labels[happy] == train_labels[angry] == "sad"
    r = invoke(train, ["fit", "--catalog", catalog, "--out", tmp_path / "fit2", "--split", "keep", "--epochs", 1,
                       "--exclude-issues", "--json"])
    assert r.exit_code == 0, r.output
    card = json.loads((tmp_path / "fit2" / "model.json").read_text())
    assert card["selection"]["excluded_issues"] == len(left_out) > 0
    assert card["selection"]["exclude_issues"] == {"model_id": model.id}
    assert not set(card["training_faces"]["ids"]) & left_out


def test_a_killed_cross_validation_carries_on_and_keeps_its_finished_folds(fer_small, tmp_path):
    catalog = _copy_catalog(fer_small[0], tmp_path / "catalog")
    run = tmp_path / "cv"
    cmd = [sys.executable, "-m", "training.cli", "suggest", "--catalog", str(catalog), "--cross-val", "3",
           "--out", str(run), "--epochs", "3", "--classes", "happy,sad,surprise,neutral"]
    env = {**os.environ, "FACECAT_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 300
    history = run / "fold-2" / "history.csv"
    while not (history.exists() and history.read_text().count("\n") >= 2):  # fold 2's first epoch done
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert (run / "fold-1" / "predictions.npz").is_file() and not (run / "fold-2" / "predictions.npz").exists()
    fold1 = (run / "fold-1" / "model.keras").stat().st_mtime_ns
    with open_catalog(catalog) as cat:
        assert not cat.models_with_predictions()  # nothing stored before every fold is done
    r = subprocess.run(cmd + ["--json"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "fold 1/3: kept from the earlier run" in r.stderr
    assert "fold 2/3: carrying on" in r.stderr and "fold 3/3: training" in r.stderr
    assert (run / "fold-1" / "model.keras").stat().st_mtime_ns == fold1
    rows = (run / "fold-2" / "history.csv").read_text().strip().splitlines()
    assert len(rows) == 4  # header + 3 epochs, the first not run twice
    result = json.loads(r.stdout)
    with open_catalog(catalog) as cat:
        n = len(list(cat.iter_faces(FaceFilter(selection="labeled", labels=("happy", "sad", "surprise", "neutral")))))
        assert len(cat.predictions(result["model_id"])) == n == result["stored"]
    # The same command again: every fold kept, nothing trained; other options are refused.
    again = invoke(train, cmd[3:])
    assert again.exit_code == 0 and again.stderr.count("kept from the earlier run") == 3, again.output
    other = invoke(train, cmd[3:-2] + ["--classes", "happy,sad", "--epochs", "4"])
    assert other.exit_code == 1 and "other options (classes, epochs)" in other.output, other.output


def test_suggest_with_a_model_marks_in_sample_faces_and_checks_the_others(fer_small, trained, tmp_path):
    catalog = _copy_catalog(fer_small[0], tmp_path / "catalog")
    groups = _plant_groups(catalog)  # groups[5]: a PublicTest face in a group with a Training face
    model_dir, _ = trained
    r = invoke(train, ["suggest", model_dir, "--catalog", catalog, "--json"])
    assert r.exit_code == 0, r.output
    result = json.loads(r.stdout)
    training = modelio.read_card(model_dir).training_ids()
    with open_catalog(catalog) as cat:
        faces = {f.id: f for f in cat.iter_faces(FaceFilter())}
        preds = cat.predictions(result["model_id"])
        flagged = set(cat.issue_face_ids(result["model_id"]))
    assert set(preds) == set(faces) and result["stored"] == len(faces)
    in_sample = {fid for fid, p in preds.items() if p.in_sample}
    public = groups[5][0]
    assert faces[public].split_hint == "PublicTest" and public in in_sample  # its duplicate was trained on
    # The fixture's model trained on fer_small's own catalog, whose ids this copy shares.
    assert in_sample == (training | {public}) & set(faces)
    assert flagged and not flagged & in_sample and result["checked"] == len(faces) - len(in_sample)
    checked = [f.label for f in faces.values() if f.id not in in_sample and f.label is not None]
    shares = np.unique(checked, return_counts=True)[1] / len(checked)
    assert result["majority_share"] == pytest.approx(shares.max(), abs=1e-4)
    assert result["near_chance"] == (result["accuracy"] < result["majority_share"] + 0.05)
    # The same again replaces the predictions, and the flags with them.
    r = invoke(train, ["suggest", model_dir, "--catalog", catalog, "--faces", "unreviewed", "--method", "both"])
    assert r.exit_code == 0 and "faces flagged as likely mislabeled" in r.output, r.output


def test_suggest_refuses_a_catalog_without_labels_and_a_model_with_other_classes(trained, tmp_path, train_env):
    from tests.labeler.helpers import add_faces

    model_dir, _ = trained
    empty = tmp_path / "unlabeled"
    with open_catalog(empty, create=True) as cat:
        add_faces(cat, 4)
    for args in (["suggest", model_dir], ["suggest", "--cross-val", 3, "--out", tmp_path / "cv"]):
        r = invoke(train, args + ["--catalog", empty])
        assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
        assert "label" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "cv").exists()
    other = tmp_path / "contempt"
    with open_catalog(other, create=True) as cat:
        cat.set_class("contempt", "8")
        add_faces(cat, 3, label="contempt")
        add_faces(cat, 3, label="happy", seed=1)
    r = invoke(train, ["suggest", model_dir, "--catalog", other])
    assert r.exit_code == 1 and "has no class 'contempt'" in r.output and "--map contempt=" in r.output, r.output
    r = invoke(train, ["suggest", model_dir, "--catalog", other, "--map", "contempt=", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["checked"] == 3  # the three happy faces; contempt's are predicted, not checked
    r = invoke(train, ["suggest", model_dir, "--catalog", other, "--map", "contempt=", "--classes", "happy", "--json"])
    assert r.exit_code == 0, r.output
    assert (json.loads(r.stdout)["stored"], json.loads(r.stdout)["checked"]) == (3, 3)  # the happy faces alone
    r = invoke(train, ["suggest", model_dir, "--catalog", other, "--map", "contempt=", "--classes", "hapy"])
    assert r.exit_code == 1 and "has no class 'hapy'" in r.output, r.output
    r = invoke(train, ["suggest", "--catalog", other, model_dir, "--epochs", 2])
    assert r.exit_code == 2 and "--epochs go(es) with --cross-val" in r.output


def test_a_model_no_better_than_the_majority_label_is_said_to_be_near_chance():
    from training.suggest import CheckResult

    def check(accuracy, share):
        return CheckResult(1, "m", "model", 10, 0, 10, 3, 3, "noise_rate", accuracy, 0.1, majority_share=share)

    assert check(0.144, 0.143).near_chance() and check(0.29, 0.25).near_chance()
    assert not check(0.55, 0.25).near_chance() and not check(None, None).near_chance()
    assert check(0.144, 0.143).as_dict()["near_chance"] is True


def test_a_cross_validation_is_carried_on_after_a_json_round_trip_and_an_upgrade_that_adds_an_option(tmp_path):
    from curation.selection import SelectionSpec
    from training.crossval import CrossValConfig, _differing
    from training.fit import FitConfig

    cfg = CrossValConfig(out=tmp_path, folds=3, fit=FitConfig(out=tmp_path, spec=SelectionSpec(), epochs=2))
    saved = json.loads(json.dumps(cfg.options()))  # what crossval.json holds: tuples became lists
    assert _differing(cfg.options(), saved) == []
    older = json.loads(json.dumps(saved))
    del older["fit"]["augment"]["erase"], older["fit"]["augment"]["erase_area"]  # a run made before they existed
    assert _differing(cfg.options(), older) == []
    older["fit"]["augment"]["erase"] = 0.5  # but a run made with another value is another run
    assert _differing(cfg.options(), older) == ["erase"]
    other = CrossValConfig(out=tmp_path, folds=3, fit=FitConfig(out=tmp_path, spec=SelectionSpec(), epochs=3))
    assert _differing(other.options(), saved) == ["epochs"]


def test_fold_models_train_the_recipes_fold_epochs_unless_told(tmp_path):
    from curation.selection import SelectionSpec
    from training import archs
    from training.crossval import CrossValConfig
    from training.fit import FitConfig

    recipe = archs.recipe(archs.DEFAULT_ARCH)
    default = CrossValConfig(out=tmp_path, folds=5, fit=FitConfig(out=tmp_path, spec=SelectionSpec()))
    assert 0 < recipe.fold_epochs < recipe.epochs
    assert default.fold_fit().epochs == recipe.fold_epochs and default.fold_fit().lr == recipe.lr
    assert default.options()["fit"]["epochs"] == recipe.fold_epochs  # what crossval.json records
    told = CrossValConfig(out=tmp_path, folds=5, fit=FitConfig(out=tmp_path, spec=SelectionSpec(), epochs=3))
    assert told.fold_fit().epochs == 3


def test_the_same_command_carries_on_a_run_recorded_before_the_fold_recipe_changed(tmp_path):
    from curation.selection import SelectionSpec
    from training.crossval import RUN_FILE, MARKER, CrossValConfig, _differing, _with_saved_recipe, saved_run
    from training.fit import FitConfig

    command = CrossValConfig(out=tmp_path, folds=3, fit=FitConfig(out=tmp_path, spec=SelectionSpec()))
    old = json.loads(json.dumps(command.options()))
    old["fit"]["epochs"] = 40  # the recipe's epochs, as a run of an earlier facecat recorded them
    del old["fit"]["weight_decay"]  # and before weight decay existed
    (tmp_path / RUN_FILE).write_text(json.dumps({MARKER: 1, "options": old}))
    assert _differing(command.options(), old) == ["epochs", "weight_decay"]  # the options it would now resolve to
    carried = _with_saved_recipe(command, saved_run(tmp_path))
    assert (carried.fit.epochs, carried.fit.weight_decay) == (40, 0.0)
    assert _differing(carried.options(), old) == []
    told = CrossValConfig(out=tmp_path, folds=3, fit=FitConfig(out=tmp_path, spec=SelectionSpec(), epochs=5))
    assert _with_saved_recipe(told, saved_run(tmp_path)).fit.epochs == 5  # given on the command line: that value (then refused)


def test_resume_of_a_fit_recorded_before_weight_decay_keeps_none():
    from training.fit import FitConfig

    d = FitConfig(out=Path("m")).as_dict()
    del d["weight_decay"]
    assert FitConfig.from_dict(d).resolved().weight_decay == 0.0


def test_train_issues_on_a_model_without_predictions_says_what_to_run(tmp_path, train_env):
    from db.types import NewModel

    with open_catalog(tmp_path / "c", create=True) as cat:
        mid = cat.register_model(NewModel(name="fresh", path=str(tmp_path / "fresh"), classes=cat.class_names()))
    r = invoke(train, ["issues", str(mid), "--catalog", tmp_path / "c"])
    assert r.exit_code == 0 and "has no stored predictions: run `train suggest` first" in r.output, r.output
    r = invoke(train, ["issues", str(mid), "--catalog", tmp_path / "c", "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["issues"] == [], r.output
    r = invoke(train, ["issues", "nope", "--catalog", tmp_path / "c"])
    assert r.exit_code == 1 and "Traceback" not in r.output and len(r.output.strip().splitlines()) == 1, r.output
