"""Recipe search for the CPU default: short, comparable training runs on FER2013, one idea each.

    .venv/bin/python bench/bench_train_recipes.py prepare
    .venv/bin/python bench/bench_train_recipes.py run NAME [NAME...] [--epochs 10] [--threads 1]
    .venv/bin/python bench/bench_train_recipes.py show

prepare: the official split of `train fit --split keep --source fer2013` (curation's selection, as
bench_train.py's catalog holds it: train = Training less the copies of PublicTest faces) and the
3,589 PublicTest files themselves, into bench/results/recipes/data.npz.
run: each named experiment (EXPERIMENTS below: changes over BASE) in its own process: facecat's
tf.data pipeline, augmentation layers, schedule and architectures, trained on the train split and
scored on PublicTest after every epoch (plain, and with the mirror TTA at the end), with the
process's wall clock and CPU time; a line per run in bench/results/recipes/results.jsonl. These
are proxies that rank ideas (fewer epochs than a real fit); the finalists run through `train fit`
in bench_train.py. --threads 1 lets two runs share the two cores (less thread overhead per run).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results" / "recipes"
DATA = RESULTS / "data.npz"

BASE = {
    "widths": [32, 64, 128, 256], "convs": [1, 2, 2, 2], "dropout": 0.3, "fused_bn": True,
    "epochs": 10, "batch": 128, "lr": 1e-3, "warmup": 2, "alpha": 0.01,
    "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "weight_decay": None,
    "label_smoothing": 0.1,
    "flip": True, "rotation": 0.03, "shift": 0.1, "zoom": 0.1, "erase": 0.0, "erase_scale": [0.02, 0.25],
    "mixup": 0.0, "seed": 0,
}
EXPERIMENTS: dict[str, dict] = {
    "base": {},
    "base-keras-bn": {"fused_bn": False},
    "erase50": {"erase": 0.5},
    "base40": {"epochs": 40},
    "deep3340": {"convs": [1, 2, 3, 3], "epochs": 30},
    "mixup02": {"mixup": 0.2},
    "lr2e-3": {"lr": 2e-3},
    "lr5e-4": {"lr": 5e-4},
    "alpha0": {"alpha": 0.0},
    "no-aug-geo": {"rotation": 0.0, "zoom": 0.0},
    "mom09": {"momentum": 0.9, "lr": 1e-4},
    "eps1e-3": {"epsilon": 1e-3},
    "batch64": {"batch": 64},
    "batch256": {"batch": 256, "lr": 2e-3},
    # Decoupled weight decay (w -= lr * wd * w) on the kernels only: with RMSProp's lr of 1e-3, 0.5
    # pulls the weights back on a ~2,000-step (9-epoch) time scale.
    "wd05": {"weight_decay": 0.5},
    "wd02": {"weight_decay": 0.2},
}


def prepare() -> None:
    import numpy as np

    from curation.selection import SelectionSpec, select_split
    from db import open_catalog
    from training import cache, faces_in
    from training.fit import split_arrays

    catalog = ROOT / "bench" / "results" / "fer-catalog"
    spec = SelectionSpec(split="keep", sources=("fer2013",))
    with open_catalog(catalog) as cat:
        sel = select_split(cat, spec)
        pixels = cache.selection_pixels(cat, sel.assignments, 48)
    split = split_arrays(sel, pixels.pixels)
    test = faces_in.from_folders(SHARED / "fer2013" / "test")
    index = sel.class_index()
    RESULTS.mkdir(parents=True, exist_ok=True)
    np.savez(DATA, classes=np.array(sel.classes), x_train=split["train"][0], y_train=split["train"][1],
             x_test=test.pixels(48), y_test=np.array([index[k] for k in test.labels]))
    print(f"{DATA}: {len(split['train'][1])} training, {len(test)} PublicTest faces; classes {sel.classes}")


def augment_layers(c: dict):
    from training import data

    return data.Augment(flip=c["flip"], rotation=c["rotation"], shift=c["shift"], zoom=c["zoom"], erase=c["erase"],
                        erase_area=tuple(c["erase_scale"])).layers(c["seed"])


def one(c: dict) -> dict:
    import numpy as np

    from training import archs, data, schedule, tfenv
    from training.layers import fused_batch_normalization

    if c.get("threads"):
        tf = tfenv.load().tf
        tf.config.threading.set_intra_op_parallelism_threads(c["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(1)
    tfenv.configure(c["seed"], "mixed_bfloat16")
    keras = tfenv.load().keras
    d = np.load(DATA)
    k = len(d["classes"])
    norm = fused_batch_normalization() if c["fused_bn"] else keras.layers.BatchNormalization
    model = archs.vgg(48, k, tuple(c["widths"]), tuple(c["convs"]), c["dropout"], norm)
    ds = data.train_dataset(d["x_train"], d["y_train"], k, c["batch"], c["seed"], augment_layers(c))
    if c["mixup"]:
        mix = keras.layers.MixUp(alpha=c["mixup"], seed=c["seed"] + 5)

        def mixed(x, y, w):
            m = mix({"images": x, "labels": y}, training=True)
            return m["images"], m["labels"], w

        ds = ds.map(mixed)
    steps = -(-len(d["y_train"]) // c["batch"])
    rate = schedule.learning_rate("cosine", c["lr"], steps, c["epochs"], c["warmup"], c["alpha"])
    opt = keras.optimizers.RMSprop(rate, rho=c["rho"], momentum=c["momentum"], epsilon=c["epsilon"],
                                   weight_decay=c["weight_decay"])
    if c["weight_decay"]:
        opt.exclude_from_weight_decay(var_names=["gamma", "beta", "bias"])
    model.compile(opt, keras.losses.CategoricalCrossentropy(label_smoothing=c["label_smoothing"]),
                  metrics=["accuracy"])
    x_test = data.as_input(d["x_test"])
    per_epoch = []

    class Score(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, epoch, logs=None):
            train_s, train_cpu = time.perf_counter() - self.t, time.process_time() - self.c
            p = self.model.predict(x_test, batch_size=256, verbose=0)
            acc = float((p.argmax(1) == d["y_test"]).mean())
            per_epoch.append({"train_acc": round(float(logs["accuracy"]), 4), "test_acc": round(acc, 4),
                              "train_s": round(train_s, 1), "train_cpu_s": round(train_cpu, 1)})
            print(f"{c['name']} epoch {epoch + 1}: train {logs['accuracy']:.3f} test {acc:.4f} "
                  f"{train_s:.0f} s {train_cpu:.0f} CPU s", file=sys.stderr, flush=True)

    t0, c0, load0 = time.perf_counter(), time.process_time(), os.getloadavg()
    model.fit(ds, epochs=c["epochs"], callbacks=[Score()], verbose=0, shuffle=False)
    p = model.predict(x_test, batch_size=256, verbose=0)
    p_tta = p + model.predict(x_test[:, :, ::-1], batch_size=256, verbose=0)
    from training import metrics

    plain = metrics.scores(list(d["classes"]), d["y_test"], p.argmax(1))
    tta = metrics.scores(list(d["classes"]), d["y_test"], p_tta.argmax(1))
    return {**c, "params": int(model.count_params()), "test_acc": round(plain.accuracy, 4),
            "test_f1": round(plain.macro_f1, 4), "test_acc_tta": round(tta.accuracy, 4),
            "test_f1_tta": round(tta.macro_f1, 4), "best_epoch_acc": max(e["test_acc"] for e in per_epoch),
            "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(time.process_time() - c0, 1),
            "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()],
            "per_epoch": per_epoch}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["prepare", "run", "show", "_one"])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--epochs", type=int, default=None, help="override each experiment's epochs")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads per run (1: two runs can share 2 cores)")
    ap.add_argument("--set", default="{}", help="JSON overrides applied to every named experiment")
    a = ap.parse_args()
    if a.what == "prepare":
        prepare()
    elif a.what == "_one":
        print(json.dumps(one(json.loads(a.names[0]))))
    elif a.what == "run":
        for name in a.names:
            c = {**BASE, **EXPERIMENTS[name], **json.loads(a.set), "name": name}
            if a.epochs:
                c["epochs"] = a.epochs
            if a.threads:
                c["threads"] = a.threads
            out = subprocess.run([sys.executable, __file__, "_one", json.dumps(c)], check=True, text=True,
                                 stdout=subprocess.PIPE).stdout
            line = out.strip().splitlines()[-1]
            with open(RESULTS / "results.jsonl", "a", encoding="utf-8") as f:
                f.write(line + "\n")
            r = json.loads(line)
            print(f"{name}: PublicTest {r['test_acc']:.4f} (TTA {r['test_acc_tta']:.4f}, best epoch "
                  f"{r['best_epoch_acc']:.4f}) {r['wall_s'] / 60:.1f} min, {r['cpu_s'] / 60:.1f} CPU min", flush=True)
    else:
        for line in (RESULTS / "results.jsonl").read_text().splitlines():
            r = json.loads(line)
            print(f"{r['name']:<24} ep {r['epochs']:>3} acc {r['test_acc']:.4f} tta {r['test_acc_tta']:.4f} "
                  f"f1 {r['test_f1']:.3f} best {r['best_epoch_acc']:.4f} {r['params'] / 1e6:.2f} M "
                  f"{r['wall_s'] / 60:5.1f} min {r['cpu_s'] / 60:5.1f} CPU min load {r['load_before'][0]}")


if __name__ == "__main__":
    main()
