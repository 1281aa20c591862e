"""Grad-CAM explanations: the map on a network whose answer is known, on the trained model, on
`train predict --plot --explain`, and stored in the catalog by `train explain`."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from db import open_catalog
from tests.training.conftest import invoke
from training.cli import main as train

pytestmark = pytest.mark.slow


def known_network():
    """8x8 input -> a 1x1 convolution that copies it -> ReLU -> mean -> logits (+x, -x) -> softmax.
    Grad-CAM for class 0 is then the input itself (scaled to a maximum of 1); for class 1, which
    every bright pixel argues against, nothing."""
    from training.tfenv import load

    keras = load().keras
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer="ones")(inputs)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(2, name="logits", kernel_initializer=keras.initializers.Constant([[1.0, -1.0]]),
                           bias_initializer="zeros")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="probabilities")(x))


def test_gradcam_of_a_known_network_is_its_input():
    from training.explain import gradcam, target_layer

    net = known_network()
    assert type(target_layer(net)).__name__ == "ReLU"  # the rectified maps of the last convolution
    face = np.zeros((1, 8, 8), np.uint8)
    face[0, 2:5, 3:6] = 200
    face[0, 6, 1] = 100
    maps = gradcam(net, face, 0)
    assert maps.shape == (1, 8, 8)
    np.testing.assert_allclose(maps[0], face[0] / 200.0, atol=1e-4)
    assert not gradcam(net, face, 1).any()


def test_gradcam_on_the_trained_model(trained, shared_data):
    from training import ensemble, photos
    from training.explain import ensemble_maps, gradcam, overlay

    ens = ensemble.load([str(trained[0])])
    r = photos.faces_in_photo(shared_data / "photos" / "face_recognition" / "examples" / "two_people.jpg", ens,
                              photos.finder_for(ens))
    net, pixels = ens.members[0].net, r.inputs[0]
    by_class = np.stack([gradcam(net, pixels, k) for k in range(len(ens.classes))])  # (K, faces, 48, 48)
    assert by_class.shape == (7, 2, 48, 48)  # the face's shape, at the model's input size
    assert np.isfinite(by_class).all() and by_class.min() >= 0 and by_class.max() <= 1
    spoken = [(k, f) for k in range(7) for f in range(2) if by_class[k, f].any()]
    assert spoken, "some class has evidence in some face"
    for k, f in spoken:
        m = by_class[k, f]
        assert m.max() == pytest.approx(1.0) and 0.01 < m.mean() < 0.95  # a map, not a constant
    classes_with_maps = {k for k, _ in spoken}
    if len(classes_with_maps) > 1:
        a, b = sorted(classes_with_maps)[:2]
        assert np.abs(by_class[a] - by_class[b]).mean() > 0.01  # the map changes with the class asked for
    top = r.probabilities.argmax(axis=1)
    maps = ensemble_maps(ens, r.inputs, [ens.classes[k] for k in top], 100)
    assert maps.shape == (2, 100, 100)  # at the aligned crop's size
    pic = overlay(r.crops[0], maps[0])
    assert pic.shape == (100, 100, 3) and pic.dtype == np.uint8


def test_predict_plot_explain_draws_the_maps(trained, shared_data, tmp_path):
    photo = shared_data / "photos" / "face_recognition" / "examples" / "two_people.jpg"
    r = invoke(train, ["predict", trained[0], photo, "--plot", tmp_path / "plain.png"])
    assert r.exit_code == 0, r.output
    r = invoke(train, ["predict", trained[0], photo, "--plot", tmp_path / "why.png", "--explain",
                       "--explain-class", "happy"])
    assert r.exit_code == 0, r.output
    plain, why = Image.open(tmp_path / "plain.png"), Image.open(tmp_path / "why.png")
    assert why.size[0] > plain.size[0]  # a column of maps beside the bars
    rgb = np.asarray(why.convert("RGB")).astype(int)
    assert (np.abs(rgb[..., 0] - rgb[..., 2]) > 80).sum() > 2000  # colour: the heat maps
    r = invoke(train, ["predict", trained[0], photo, "--explain"])
    assert r.exit_code == 2 and "--explain goes with --plot" in r.output
    r = invoke(train, ["predict", trained[0], photo, "--plot", tmp_path / "x.png", "--explain", "--explain-class", "bored"])
    assert r.exit_code == 1 and "no such class" in r.output


def test_train_explain_stores_maps_for_the_labeler(fer_small, trained):
    catalog, _ = fer_small
    r = invoke(train, ["explain", trained[0], "--catalog", catalog, "--source", "fer2013", "--limit", 5, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["stored"] == 5 and sum(d["by_class"].values()) == 5
    with open_catalog(catalog) as cat:
        first = cat.face_ids()[0]
        row = cat.explanation(d["model_id"], first)
        assert row is not None and row.method == "grad-cam" and row.label in d["by_class"]
        assert Image.open(io.BytesIO(row.png)).size == (100, 100)
        assert cat.explained_faces(d["model_id"]) == 5
        assert [m.id for m in cat.models_with_explanations()] == [d["model_id"]]
    r = invoke(train, ["explain", trained[0], "--catalog", catalog, "--face", first, "--class", "surprise"])
    assert r.exit_code == 0 and "stored 1 explanation" in r.output
    with open_catalog(catalog) as cat:
        again = cat.explanation(d["model_id"], first)
        assert again.label == "surprise" and again.png != row.png  # replaced, for the class asked for
        assert cat.explained_faces(d["model_id"]) == 5
    r = invoke(train, ["explain", trained[0], "--catalog", catalog, "--face", 10**9])
    assert r.exit_code == 1 and f"no face {10**9}" in r.output
    r = invoke(train, ["explain", f"{trained[0]}+{trained[0]}", "--catalog", catalog, "--face", first])
    assert r.exit_code == 1 and "give one model" in r.output
