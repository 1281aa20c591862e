"""Ensembles: several models' probabilities averaged, classes matched by name, each member with its
own input size; in predict, evaluate and compare."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.training.conftest import invoke
from training.cli import main as train

pytestmark = pytest.mark.slow

PHOTO = ("photos", "face_recognition", "examples", "two_people.jpg")


def faces_of(result) -> list[dict]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["images"][0]["faces"]


@pytest.fixture(scope="module")
def reordered(trained, tmp_path_factory):
    """The trained model with its classes in another order: the last layer's columns and model.json's
    class list permuted together (the same model, classes in another order)."""
    from training import modelio

    src = trained[0]
    dst = tmp_path_factory.mktemp("reordered") / "fer2-reordered"
    shutil.copytree(src, dst)
    card, net = modelio.load(str(src))
    order = [6, 5, 4, 3, 2, 1, 0]
    kernel, bias = net.get_layer("logits").get_weights()
    net.get_layer("logits").set_weights([kernel[:, order], bias[order]])
    net.save(dst / "model.keras")
    data = json.loads((dst / "model.json").read_text())
    data["classes"] = [card.classes[i] for i in order]
    (dst / "model.json").write_text(json.dumps(data))
    return dst


@pytest.fixture(scope="module")
def catalog_copy(fer_small, tmp_path_factory):
    """A copy of fer_small's catalog for the models trained here: they register themselves, and the
    session's catalog keeps only the `trained` model (tests/training/test_fit.py reads it so)."""
    dst = tmp_path_factory.mktemp("ensemble-catalog") / "catalog"
    shutil.copytree(fer_small[0], dst)
    return dst


@pytest.fixture(scope="module")
def trained100(catalog_copy, tmp_path_factory):
    """A second model at 100x100 input (1 epoch): an ensemble member with another input size."""
    catalog = catalog_copy
    out = tmp_path_factory.mktemp("models100") / "fer100"
    r = invoke(train, ["fit", "--catalog", catalog, "--out", out, "--split", "keep", "--epochs", 1, "--seed", 3,
                       "--input-size", 100])
    assert r.exit_code == 0, r.output
    return out


def test_classes_are_matched_by_name(trained, reordered, shared_data):
    photo = shared_data.joinpath(*PHOTO)
    single = faces_of(invoke(train, ["predict", trained[0], photo, "--json"]))
    other = faces_of(invoke(train, ["predict", reordered, photo, "--json"]))
    both = invoke(train, ["predict", trained[0], reordered, photo, "--json"])
    assert json.loads(both.stdout)["models"] == [str(trained[0]), str(reordered)]
    both = faces_of(both)
    assert len(single) == len(both) == 2
    for a, b, c in zip(single, other, both):
        assert a["bbox"] == b["bbox"] == c["bbox"]
        for k, p in a["probabilities"].items():
            assert b["probabilities"][k] == pytest.approx(p, abs=2e-4)  # the same model, reordered
            assert c["probabilities"][k] == pytest.approx(p, abs=2e-4)


def test_members_of_other_input_sizes_get_their_own_faces(trained, trained100, shared_data):
    photo = shared_data.joinpath(*PHOTO)
    a = faces_of(invoke(train, ["predict", trained[0], photo, "--json"]))
    b = faces_of(invoke(train, ["predict", trained100, photo, "--json"]))
    mean = faces_of(invoke(train, ["predict", f"{trained[0]}+{trained100}", photo, "--json"]))
    assert len(a) == len(b) == len(mean) == 2
    differ = 0
    for fa, fb, fm in zip(a, b, mean):
        for k in fa["probabilities"]:
            expected = (fa["probabilities"][k] + fb["probabilities"][k]) / 2
            assert fm["probabilities"][k] == pytest.approx(expected, abs=2e-4)
            differ += abs(fa["probabilities"][k] - fb["probabilities"][k]) > 1e-3
    assert differ  # two different models: the average is not just one of them


def test_evaluate_and_compare_take_ensembles(fer_small, catalog_copy, trained, reordered, trained100):
    catalog, fer_dir = catalog_copy, fer_small[1]
    where = ["--folders", fer_dir / "test"]
    single = json.loads(invoke(train, ["evaluate", trained[0], *where, "--json"]).stdout)
    r = invoke(train, ["evaluate", trained[0], reordered, *where, "--json"])
    assert r.exit_code == 0, r.output
    pair = json.loads(r.stdout)
    assert pair["models"] == [str(trained[0]), str(reordered)] and pair["faces"] == single["faces"]
    assert abs(pair["accuracy"] - single["accuracy"]) <= 1 / single["faces"]  # the same model: ties at most
    r = invoke(train, ["compare", trained[0], trained100, f"{trained[0]}+{trained100}", *where, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.stdout)["models"]
    assert [m["model"] for m in rows] == [str(trained[0]), str(trained100), f"{trained[0].name}+{trained100.name}"]
    r = invoke(train, ["compare", trained[0], f"{trained[0]}+{trained100}", *where])
    assert r.exit_code == 0 and f"{trained[0].name}+{trained100.name}" in r.stdout


def test_an_ensemble_of_models_with_other_classes_is_refused(trained, catalog_copy, tmp_path):
    catalog = catalog_copy
    few = tmp_path / "few"
    r = invoke(train, ["fit", "--catalog", catalog, "--out", few, "--split", "keep", "--epochs", 1,
                       "--classes", "happy,sad,neutral"])
    assert r.exit_code == 0, r.output
    r = invoke(train, ["evaluate", trained[0], few, "--catalog", catalog, "--split", "val"])
    assert r.exit_code == 1
    assert "different classes" in r.output and "lacks angry" in r.output


def test_ensemble_probabilities_are_the_mean(trained, trained100):
    """The library call: two members' rows averaged, columns in the first member's order."""
    from training import ensemble

    ens = ensemble.load([str(trained[0]), str(trained100)])
    rng = np.random.default_rng(0)
    faces = {48: rng.integers(0, 256, (5, 48, 48), dtype=np.uint8), 100: rng.integers(0, 256, (5, 100, 100), dtype=np.uint8)}
    p = ens.probabilities(lambda m: faces[m.card.input_size])
    one = ensemble.load([str(trained[0])]).probabilities(lambda m: faces[48])
    two = ensemble.load([str(trained100)]).probabilities(lambda m: faces[100])
    np.testing.assert_allclose(p, (one + two) / 2, atol=1e-6)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-5)
