"""Training speed: where the CPU time goes, and what the input pipeline, mixed precision, XLA and
thread settings change. Few epochs on a subset of FER2013 (the cores are shared: keep it short).

    .venv/bin/python bench/bench_train_speed.py [--faces 8192] [--what pipeline,precision,threads,xla,profile]

Each configuration runs in its own process (thread settings and the dtype policy are per process)
and reports the wall clock and CPU time of its second epoch (the first one traces and warms up).
- pipeline: facecat's tf.data pipeline (seeded shuffle, batch, augmentation layers in the map,
  prefetch) against a plain `model.fit(x, y)` on in-memory NumPy arrays with the same augmentation
  layers inside the model. Goal (issue 9): within 10%.
- precision: float32 against mixed_bfloat16 (oneDNN's bf16 kernels, native with AVX512_BF16 or AMX; on
  other CPUs emulated and slow). Every other configuration trains at what `--precision auto` picks.
- batchnorm: Keras' BatchNormalization (unfused ops) against training.layers' fused one.
- xla: jit_compile=True against False.
- threads: TensorFlow's intra-/inter-op thread pools.
- profile: forward + backward time of each stage of the network in isolation, the optimizer
  update, and the input pipeline alone, per batch of 128.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def faces(n: int):
    import numpy as np
    from PIL import Image

    files = sorted(glob.glob(str(SHARED / "fer2013" / "train" / "*" / "*.jpg")))
    pick = np.random.default_rng(0).permutation(len(files))[:n]
    x = np.stack([np.asarray(Image.open(files[i]).convert("L")) for i in pick])
    y = np.array([CLASSES.index(Path(files[i]).parent.name) for i in pick])
    return x, y


def one(cfg: dict) -> dict:
    """One configuration, in this process."""
    import numpy as np

    from training import archs, data, tfenv

    if cfg.get("threads"):
        intra, inter = cfg["threads"]
        tf = tfenv.load().tf
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    # Unless a configuration names one: what `train fit --precision auto` picks on this machine.
    tfenv.configure(0, tfenv.resolve_precision(cfg.get("precision", "auto")), deterministic=cfg.get("deterministic", True))
    keras = tfenv.load().keras
    x, y = faces(cfg["faces"])
    aug = data.Augment().layers(0)
    net = archs.build(cfg.get("arch", archs.DEFAULT_ARCH), 48, 7, for_training=cfg.get("fused_bn", True))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            self.t, self.c = time.perf_counter(), time.process_time()

        def on_epoch_end(self, e, logs=None):
            times.append((time.perf_counter() - self.t, time.process_time() - self.c))

    loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)
    if cfg["mode"] == "numpy":
        model = keras.Sequential([keras.Input((48, 48, 1)), aug, net])
        model.compile(keras.optimizers.RMSprop(1e-3), loss, metrics=["accuracy"], jit_compile=cfg.get("xla", False))
        model.fit(data.as_input(x), np.eye(7, dtype="float32")[y], batch_size=128, epochs=2, shuffle=True, verbose=0,
                  callbacks=[Timer()])
    else:
        ds = data.train_dataset(x, y, 7, 128, 0, aug)
        net.compile(keras.optimizers.RMSprop(1e-3), loss, metrics=["accuracy"], jit_compile=cfg.get("xla", False))
        net.fit(ds, epochs=2, verbose=0, callbacks=[Timer()], shuffle=False)
    wall, cpu = times[-1]
    return {**cfg, "epoch_s": round(wall, 2), "cpu_s": round(cpu, 2), "faces_per_s": round(len(y) / wall, 1),
            "fer_epoch_s": round(28709 / (len(y) / wall), 1), "load": round(os.getloadavg()[0], 2)}


def profile(n_batches: int = 20, fused_bn: bool = True) -> dict:
    """Forward+backward seconds per batch of 128 for each stage, in isolation; optimizer; input pipeline."""
    from training import archs, data, tfenv

    tfenv.configure(0, "mixed_bfloat16")
    tf, keras = tfenv.load().tf, tfenv.load().keras
    net = archs.build(archs.DEFAULT_ARCH, 48, 7, for_training=fused_bn)
    # Stage boundaries: after each MaxPooling2D.
    cuts = [i for i, layer in enumerate(net.layers) if isinstance(layer, keras.layers.MaxPooling2D)]
    bounds = [0] + [c + 1 for c in cuts] + [len(net.layers)]
    out = {}
    x = tf.random.uniform((128, 48, 48, 1), 0, 255)
    for s in range(len(bounds) - 1):
        layers = net.layers[max(bounds[s], 1):bounds[s + 1]]
        shape = x.shape
        inp = keras.Input(shape[1:])
        h = inp
        for layer in layers:
            h = layer(h)
        sub = keras.Model(inp, h)

        @tf.function(jit_compile=False)
        def step(v, sub=sub):
            with tf.GradientTape() as tape:
                tape.watch(v)
                r = tf.reduce_sum(tf.cast(sub(v, training=True), tf.float32))
            return tape.gradient(r, [v] + sub.trainable_variables)

        step(x)
        t, c = time.perf_counter(), time.process_time()
        for _ in range(n_batches):
            step(x)
        name = f"stage {s + 1}: " + ", ".join(type(layer).__name__ for layer in layers if layer.weights)[:60]
        out[name] = {"ms_per_batch": round(1000 * (time.perf_counter() - t) / n_batches, 1),
                     "cpu_ms_per_batch": round(1000 * (time.process_time() - c) / n_batches, 1),
                     "output": list(h.shape[1:])}
        x = sub(x)
    opt = keras.optimizers.RMSprop(1e-3)
    opt.build(net.trainable_variables)
    grads = [tf.zeros_like(v) for v in net.trainable_variables]
    opt.apply_gradients(zip(grads, net.trainable_variables))
    t = time.perf_counter()
    for _ in range(n_batches):
        opt.apply_gradients(zip(grads, net.trainable_variables))
    out["optimizer update (RMSprop)"] = {"ms_per_batch": round(1000 * (time.perf_counter() - t) / n_batches, 1)}
    xs, ys = faces(128 * n_batches)
    ds = data.train_dataset(xs, ys, 7, 128, 0, data.Augment().layers(0))
    for _ in ds.take(1):
        pass
    t, c = time.perf_counter(), time.process_time()
    for _ in ds:
        pass
    out["input pipeline alone (shuffle, augment, batch)"] = {
        "ms_per_batch": round(1000 * (time.perf_counter() - t) / n_batches, 1),
        "cpu_ms_per_batch": round(1000 * (time.process_time() - c) / n_batches, 1)}
    return out


CONFIGS = {
    "pipeline": [{"mode": "tfdata"}, {"mode": "numpy"}, {"mode": "tfdata"}, {"mode": "numpy"}],
    "precision": [{"mode": "tfdata", "precision": "float32"}, {"mode": "tfdata", "precision": "mixed_bfloat16"}],
    "batchnorm": [{"mode": "tfdata", "fused_bn": False}, {"mode": "tfdata", "fused_bn": True}],
    "xla": [{"mode": "tfdata", "xla": True}],
    "threads": [{"mode": "tfdata", "threads": [1, 1]}, {"mode": "tfdata", "threads": [2, 1]},
                {"mode": "tfdata", "threads": [2, 2]}],
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--faces", type=int, default=8192)
    ap.add_argument("--what", default="pipeline,precision,batchnorm,xla,threads,profile")
    ap.add_argument("--one", help=argparse.SUPPRESS)
    ap.add_argument("--profile", choices=["fused", "stock"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.profile:
        print(json.dumps(profile(fused_bn=a.profile == "fused")))
        return
    if a.one:
        print(json.dumps(one(json.loads(a.one))))
        return
    results = []
    for what in a.what.split(","):
        if what == "profile":
            for bn in ("stock", "fused"):
                r = subprocess.run([sys.executable, __file__, "--profile", bn], capture_output=True, text=True, check=True)
                results.append({"profile": json.loads(r.stdout.strip().splitlines()[-1]), "batchnorm": bn})
                print(json.dumps(results[-1], indent=1), flush=True)
            continue
        for cfg in CONFIGS[what]:
            cfg = {**cfg, "faces": a.faces, "what": what}
            r = subprocess.run([sys.executable, __file__, "--one", json.dumps(cfg)], capture_output=True, text=True, check=True)
            results.append(json.loads(r.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    out = ROOT / "bench" / "results" / "train_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
