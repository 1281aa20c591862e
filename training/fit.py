"""`train fit`: from a catalog selection to a model directory, registered in the catalog.

select & split (curation.selection, as `curate export` does) -> pixels through the cache ->
tf.data -> Keras fit with the recipe's optimizer and schedule -> best checkpoint -> metrics per
split, report, pictures, model.json -> the catalog's models table.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from curation.export.manifest import counts as selection_counts
from curation.export.manifest import snapshot_sha256
from curation.faces import ExtractSettings
from curation.selection import SelectionSpec, SplitSelection, select_split
from curation.split import SPLITS
from db.catalog import Catalog
from db.types import NewModel
from training import archs, cache, data, machine, metrics, modelio, plots, schedule, tfenv
from training.callbacks import epoch_progress, standard, stop_on_interrupt
from training.errors import TrainingError

FIT_FILE = ".fit.json"  # the options of a run, for --resume
RESUME_DIR = ".resume"
# The weight decay of a run (fit or cross-validation) recorded before the option existed: there was none.
UNRECORDED_WEIGHT_DECAY = 0.0


@dataclass(frozen=True)
class FitConfig:
    out: Path
    spec: SelectionSpec = SelectionSpec()
    input_size: int = 48
    arch: str = archs.DEFAULT_ARCH
    epochs: int | None = None  # None: the recipe's
    batch: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    schedule: str | None = None
    weight_decay: float | None = None
    class_weights: bool = False  # measured: they cost accuracy on FER2013 (BENCHMARKS.md)
    label_smoothing: float = 0.1
    precision: str = "auto"
    augment: data.Augment = data.Augment()
    patience: int = 10
    warmup_epochs: int = 2
    use_cache: bool = True

    def resolved(self) -> "FitConfig":
        """The recipe's values filled in for the options left None."""
        r = archs.recipe(self.arch)
        return dataclasses.replace(self, epochs=self.epochs or r.epochs, batch=self.batch or r.batch,
                                   lr=self.lr or r.lr, optimizer=self.optimizer or r.optimizer,
                                   schedule=self.schedule or r.schedule,
                                   weight_decay=r.weight_decay if self.weight_decay is None else self.weight_decay)

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["out"] = str(self.out)
        d["spec"] = self.spec.as_dict()
        return d

    @staticmethod
    def from_dict(d: dict) -> "FitConfig":
        d = dict(d)
        d.setdefault("weight_decay", UNRECORDED_WEIGHT_DECAY)
        spec = SelectionSpec.from_dict(d.pop("spec"))
        augment = d.pop("augment")
        if "erase_area" in augment:
            augment["erase_area"] = tuple(augment["erase_area"])  # JSON has no tuples
        return FitConfig(out=Path(d.pop("out")), spec=spec, augment=data.Augment(**augment), **d)


@dataclass
class FitResult:
    out: Path
    model_id: int | None  # None: not registered (a fold model)
    classes: list[str]
    counts: dict
    metrics: dict
    epochs_run: int
    best_epoch: int
    stopped: str  # "completed", "early stopping" or "interrupted"
    seconds: float
    cpu_seconds: float
    cache_hit: bool
    precision: str
    extra: dict = field(default_factory=dict)


def check_selection(sel: SplitSelection, spec: SelectionSpec) -> None:
    """Refuse selections a model cannot be trained on, with the reason."""
    if not sel.assignments:
        raise TrainingError(f"no labeled faces match the selection (status {spec.status}, classes "
                            f"{', '.join(spec.classes) if spec.classes else 'all'}, sources "
                            f"{', '.join(spec.sources) if spec.sources else 'all'}); see `curate stats`")
    per_split = sel.counts()
    empty = [k for k in sel.classes if per_split["train"][k] == 0]
    if empty:
        raise TrainingError(f"class(es) with no training faces: {', '.join(empty)}; label some, or leave them out "
                            f"with --classes or --map {empty[0]}=")
    if len(sel.classes) < 2:
        raise TrainingError(f"only one class ({sel.classes[0]}) in the selection: a classifier needs two or more")
    if not any(per_split["val"].values()):
        raise TrainingError(f"no validation faces in split {spec.split!r} (the best epoch is chosen on them); "
                            "use a split with a validation share, e.g. --split 80/10/10")


def prepare_out(out: Path, resume: bool, force: bool) -> None:
    """Make OUT and check it can be written, before anything is computed."""
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} exists and is not a directory")
    if resume:
        if not (out / RESUME_DIR).is_dir() or not (out / FIT_FILE).is_file():
            raise TrainingError(f"nothing to resume in {out}: no interrupted run there (a finished run has nothing left to do)")
    elif out.is_dir() and any(out.iterdir()):
        if not force:
            raise TrainingError(f"--out {out} is not empty; use --resume to continue an interrupted run, "
                                "--force to replace its model, or another --out")
        if not (out / modelio.CARD_FILE).exists() and not (out / FIT_FILE).exists():
            raise TrainingError(f"--out {out} is not empty and holds no facecat model; --force replaces only models")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TrainingError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    if force and not resume:
        for name in (modelio.MODEL_FILE, modelio.CARD_FILE, "history.csv", FIT_FILE):
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / RESUME_DIR, ignore_errors=True)


def read_history(path: Path) -> dict[str, list[float]]:
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    keys = [k for k in (rows[0] if rows else {}) if k != "epoch"]
    return {k: [float(r[k]) for r in rows if r.get(k) not in (None, "")] for k in keys}


def split_arrays(sel: SplitSelection, pixels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """split -> (pixels, class indices, face ids), each in face-id order."""
    index = sel.class_index()
    labels = np.array([index[a.label] for a in sel.assignments], dtype=np.int64)
    ids = np.array([a.face.id for a in sel.assignments], dtype=np.int64)
    names = np.array([a.split for a in sel.assignments])
    return {s: (pixels[names == s], labels[names == s], ids[names == s]) for s in SPLITS}


def _float32_copy(checkpoint: Path, cfg: FitConfig, n_classes: int, on_gpu: bool):
    """The best checkpoint as a plain float32 inference model, saved over it: mixed precision is
    for training speed; the saved model computes in float32 everywhere (CPU, TFLite, other GPUs)."""
    keras = tfenv.load().keras
    trained = keras.models.load_model(checkpoint, compile=False)
    if on_gpu:
        trained = trained.layers[-1]  # the network, without the augmentation in front of it
    keras.mixed_precision.set_global_policy("float32")
    net = archs.build(cfg.arch, cfg.input_size, n_classes)
    net.set_weights(trained.get_weights())
    tmp = checkpoint.with_name(".model.tmp.keras")
    net.save(tmp)
    tmp.replace(checkpoint)
    return net


def run_fit(catalog: Catalog, cfg: FitConfig, resume: bool = False, force: bool = False, bar=None,
            register: bool = True) -> FitResult:
    """Train a model as cfg says and register it (unless not register: a cross-validation's fold
    model). bar: a progress bar for decoding faces (cache miss)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    out = cfg.out.absolute()
    cfg = cfg.resolved()  # an unknown architecture is refused here, before anything is written
    sel = select_split(catalog, cfg.spec)
    check_selection(sel, cfg.spec)
    prepare_out(out, resume, force)
    pixels = cache.selection_pixels(catalog, sel.assignments, cfg.input_size, progress=bar, use_cache=cfg.use_cache)
    (out / FIT_FILE).write_text(json.dumps(cfg.as_dict(), indent=1), encoding="utf-8")

    precision = tfenv.resolve_precision(cfg.precision)
    tfenv.configure(cfg.spec.seed, precision)
    keras = tfenv.load().keras
    split = split_arrays(sel, pixels.pixels)
    x_train, y_train, _ = split["train"]
    x_val, y_val, _ = split["val"]
    k = len(sel.classes)
    weights = data.class_weights(y_train, k) if cfg.class_weights else None
    on_gpu = bool(tfenv.gpus())
    augment = cfg.augment.layers(cfg.spec.seed)
    model = archs.build(cfg.arch, cfg.input_size, k, for_training=True)
    if on_gpu:  # augmentation runs on the accelerator, inside the model (identity at inference)
        model = keras.Sequential([keras.Input((cfg.input_size, cfg.input_size, 1)), augment, model], name=model.name)
    train_ds = data.train_dataset(x_train, y_train, k, cfg.batch, cfg.spec.seed, None if on_gpu else augment, weights)
    val_ds = data.eval_dataset(x_val, y_val, k)
    steps = -(-len(y_train) // cfg.batch)
    rate = schedule.learning_rate(cfg.schedule, cfg.lr, steps, cfg.epochs, cfg.warmup_epochs)
    model.compile(optimizer=schedule.optimizer(cfg.optimizer, rate, cfg.weight_decay),
                  loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
                  metrics=["accuracy"], jit_compile=False)  # XLA: no faster on this CPU (BENCHMARKS.md)
    previous = read_history(out / "history.csv") if resume else {}
    best_before = max(previous.get("val_accuracy", []), default=None)
    stopper = stop_on_interrupt()
    cbs = standard(out, cfg.schedule, cfg.patience, resume, best_before) + [epoch_progress(steps, cfg.epochs), stopper]
    fit_started = time.perf_counter()
    model.fit(train_ds, validation_data=val_ds, epochs=cfg.epochs, callbacks=cbs, verbose=0, shuffle=False)
    fit_seconds = time.perf_counter() - fit_started

    history = read_history(out / "history.csv")
    epochs_run = len(history.get("loss", []))
    best_epoch = int(np.argmax(history["val_accuracy"])) + 1 if history.get("val_accuracy") else epochs_run
    stopped = "interrupted" if stopper.interrupted else ("completed" if epochs_run >= cfg.epochs else "early stopping")
    if stopped != "interrupted":
        shutil.rmtree(out / RESUME_DIR, ignore_errors=True)
    best = _float32_copy(out / modelio.MODEL_FILE, cfg, k, on_gpu)
    per_split, predictions = {}, {}
    for s in SPLITS:
        xs, ys, _ = split[s]
        if len(ys) and s != "train":
            p = best.predict(data.as_input(xs), batch_size=256, verbose=0)
            predictions[s] = p
            per_split[s] = metrics.scores(sel.classes, ys, p.argmax(axis=1))
    report_split = "test" if "test" in per_split else "val"
    shown = per_split[report_split]
    best_row = {key: round(v[best_epoch - 1], 4) for key, v in history.items() if len(v) >= best_epoch}
    per_split_dicts = {s: sc.as_dict() for s, sc in per_split.items()}
    per_split_dicts["train"] = {"faces": int(len(y_train)), "accuracy_augmented": best_row.get("accuracy"),
                                "loss": best_row.get("loss")}
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    train_ids = split["train"][2]
    train_hashes = [cache.pixel_hash(p) for p in x_train]
    summary_metrics = {s: {"accuracy": d.get("accuracy"), "macro_f1": d.get("macro_f1"), "faces": d.get("faces")}
                       for s, d in per_split_dicts.items()}
    params = {
        "arch": cfg.arch, "parameters": int(best.count_params()), "input_size": cfg.input_size,
        "hyper_parameters": {"epochs": cfg.epochs, "batch": cfg.batch, "lr": cfg.lr, "optimizer": cfg.optimizer,
                             "schedule": cfg.schedule, "weight_decay": cfg.weight_decay, "warmup_epochs": cfg.warmup_epochs, "patience": cfg.patience,
                             "class_weights": cfg.class_weights, "label_smoothing": cfg.label_smoothing,
                             "augment": cfg.augment.as_dict(), "precision": precision},
        "seed": cfg.spec.seed,
        "selection": {**cfg.spec.as_dict(), "snapshot_sha256": snapshot_sha256(sel.assignments),
                      "split_sha256": {s: modelio.ids_sha256(split[s][2]) for s in SPLITS},
                      "counts": selection_counts(sel), "moved_by_group": sel.moved_by_group,
                      "relabeled_by_review": sel.relabeled_by_review,
                      **({"excluded_issues": sel.excluded_issues} if cfg.spec.exclude_issues is not None else {})},
    }
    # What was merged: each split's faces by source (a scrape's query, a dataset).
    params["selection"]["by_source"] = {
        s: dict(sorted(Counter(a.face.source_name for a in sel.assignments if a.split == s).items())) for s in SPLITS}
    card = {
        "name": out.name, "classes": sel.classes, "input_size": cfg.input_size,
        "preprocessing": {
            "pixels": f"grayscale, {cfg.input_size}x{cfg.input_size}, values 0..255 as float32, shape (N, S, S, 1); "
                      "the model scales them to [-1, 1] itself",
            "faces": "curation's extractor: dlib detection, 5-point alignment, grayscale crop; resized with Lanczos",
            "extract": ExtractSettings().as_dict(),
        },
        **params,
        "versions": machine.versions(),
        "metrics": per_split_dicts,
        "training": {"epochs_run": epochs_run, "best_epoch": best_epoch, "stopped": stopped,
                     "seconds": round(seconds, 1), "fit_seconds": round(fit_seconds, 1),
                     "cpu_seconds": round(cpu_seconds, 1), "cache_hit": pixels.hit,
                     "load_average_end": machine.load_average()},
        # What people's review did to the training faces (the audit): the loop closed.
        "review": catalog.review_summary([int(i) for i in train_ids]).as_dict(),
        "machine": machine.describe(tfenv.gpus()),
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "training_faces": {"ids": [int(i) for i in train_ids], "pixel_hashes": train_hashes},
    }
    modelio.write_card(out, card)
    (out / "report.txt").write_text(
        "\n".join(metrics.report_text(per_split[s], f"{s} split ({per_split[s].n} faces), best epoch {best_epoch}")
                  for s in per_split), encoding="utf-8")
    plots.curves(history, out / "curves.png", f"{out.name}: {cfg.arch}, {len(y_train):,} training faces")
    plots.confusion(shown.confusion, sel.classes, out / "confusion.png",
                    f"{out.name} on the {report_split} split: accuracy {shown.accuracy:.1%}, macro-F1 {shown.macro_f1:.3f}")
    model_id = None
    if register:
        model_id = catalog.register_model(NewModel(name=out.name, path=str(out.resolve()), classes=sel.classes,
                                                   kind="model", params=params, metrics=summary_metrics))
    return FitResult(out, model_id, sel.classes, sel.counts(), per_split_dicts, epochs_run, best_epoch, stopped,
                     seconds, cpu_seconds, pixels.hit, precision,
                     extra={"review": card["review"], "relabeled_by_review": sel.relabeled_by_review,
                            "excluded_issues": sel.excluded_issues if cfg.spec.exclude_issues is not None else None})
