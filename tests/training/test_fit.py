"""`train fit` on real FER2013 faces: what it writes, that it reloads and predicts identically, that
the same seed gives the same weights, Ctrl-C and --resume."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from curation.export.manifest import snapshot_sha256
from curation.selection import SelectionSpec, select_split
from db import open_catalog
from tests.signals import communicate_or_show_stacks
from tests.training.conftest import invoke
from training.cli import main as train

pytestmark = pytest.mark.slow


def test_fit_writes_the_model_directory_and_registers_it(fer_small, trained):
    catalog, _ = fer_small
    out, result = trained
    for name in ("model.keras", "model.json", "history.csv", "curves.png", "confusion.png", "report.txt"):
        assert (out / name).stat().st_size > 0, name
    card = json.loads((out / "model.json").read_text())
    with open_catalog(catalog) as cat:
        sel = select_split(cat, SelectionSpec(split="keep", seed=0))
        models = cat.models()
    train_ids = sorted(a.face.id for a in sel.assignments if a.split == "train")
    assert card["classes"] == sel.classes == result["classes"]
    assert card["input_size"] == 48 and card["arch"] == "vgg-small"
    assert card["selection"]["snapshot_sha256"] == snapshot_sha256(sel.assignments)
    assert card["selection"]["split"] == "keep"
    assert sorted(card["training_faces"]["ids"]) == train_ids
    assert len(card["training_faces"]["pixel_hashes"]) == len(train_ids)
    assert card["training"]["epochs_run"] == 2 and card["versions"]["keras"]
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert "precision" in (out / "report.txt").read_text()
    assert models[0].path == str(out.resolve()) and models[0].id == result["model_id"]
    assert models[0].metrics["val"]["accuracy"] == result["metrics"]["val"]["accuracy"]


def test_reloaded_model_predicts_what_fit_measured(fer_small, trained):
    """evaluate, in a fresh load of model.keras, finds the confusion matrix fit computed in memory."""
    catalog, _ = fer_small
    out, result = trained
    r = invoke(train, ["evaluate", out, "--catalog", catalog, "--split", "val", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["confusion"] == result["metrics"]["val"]["confusion"]
    assert d["faces"] == result["metrics"]["val"]["faces"]


def test_second_fit_reads_the_cache(fer_small, trained, tmp_path):
    catalog, _ = fer_small
    r = invoke(train, ["fit", "--catalog", catalog, "--out", tmp_path / "again", "--split", "keep", "--epochs", 1,
                       "--batch", 256, "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cache_hit"] is True


def _weights(path):
    from training.tfenv import load

    return load().keras.models.load_model(path, compile=False).get_weights()


def test_same_seed_gives_the_same_weights(fer_small, tmp_path):
    catalog, _ = fer_small
    args = ["fit", "--catalog", catalog, "--split", "keep", "--epochs", 1, "--classes", "happy,sad,surprise"]
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        r = invoke(train, args + ["--out", tmp_path / name, "--seed", seed])
        assert r.exit_code == 0, r.output
    a, b, c = (_weights(tmp_path / n / "model.keras") for n in "abc")
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_ctrl_c_stops_at_the_end_of_the_epoch_and_resume_carries_on(fer_small, tmp_path):
    catalog, _ = fer_small
    out = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "training.cli", "fit", "--catalog", str(catalog), "--out", str(out),
           "--split", "keep", "--epochs", "4", "--classes", "happy,sad"]
    env = {**os.environ, "FACECAT_PROGRESS": "0"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while not (out / "history.csv").exists() or not (out / "history.csv").read_text().count("\n") >= 1:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # during epoch 2: it finishes epoch 2, then stops
    stdout, stderr = communicate_or_show_stacks(proc, timeout=240)
    assert proc.returncode == 0, stderr
    assert "stopping at the end of this epoch" in stderr and "--resume" in stdout
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["stopped"] == "interrupted" and card["training"]["epochs_run"] < 4
    assert (out / ".resume").is_dir()
    r = subprocess.run(cmd[:-6] + ["--resume"], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["training"]["stopped"] == "completed" and card["training"]["epochs_run"] == 4
    assert (out / "history.csv").read_text().count("\n") == 5  # header + 4 epochs, none twice
    assert not (out / ".resume").exists()


def test_arch_list_prints_parameter_counts():
    r = invoke(train, ["fit", "--arch", "list"])
    assert r.exit_code == 0
    assert "vgg-small" in r.output and "1,167,015" in r.output and "vgg-kc" in r.output
    assert "40, 128, rmsprop, 0.001, cosine, 0.5: VGG stages" in r.output  # the CPU default's recipe, weight decay too


def test_resume_takes_the_first_command_again_and_refuses_another_value(tmp_path):
    from training.fit import FIT_FILE, FitConfig

    out = tmp_path / "run"
    out.mkdir()
    recorded = FitConfig(out=out, spec=SelectionSpec(sources=("fer2013",), split="keep", seed=2), epochs=10)
    (out / FIT_FILE).write_text(json.dumps(recorded.as_dict()))
    first = ["fit", "--catalog", tmp_path / "no-catalog", "--out", out, "--split", "keep", "--source", "fer2013",
             "--seed", 2, "--epochs", 10]
    # The same command plus --resume gets past the options, to the (here missing) catalog.
    r = invoke(train, first + ["--resume"])
    assert r.exit_code == 1 and "--resume" not in r.output and "no-catalog" in r.output, r.output
    r = invoke(train, first[:5] + ["--resume"])  # or only where it is
    assert r.exit_code == 1 and "--resume" not in r.output and "no-catalog" in r.output, r.output
    r = invoke(train, first[:5] + ["--seed", 3, "--split", "keep", "--resume"])
    assert r.exit_code == 1 and "leave out or give as recorded --seed (it was 2)" in r.output, r.output
    assert "--split" not in r.output
