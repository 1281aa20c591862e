"""`train suggest --cross-val K`: K fold models on K folds of a selection, and every face's
out-of-fold probabilities stored under one catalog model of kind "cross-val".

Folds (curation.split.assign_folds) are stratified by class and keep each duplicate group (a stored
group or identical pixels) inside one fold, so no face is predicted by a model that trained on it
or on one of its duplicates. With `--split keep` or ratios, only the selection's train split is
folded; its val and test faces are predicted by the mean of the K fold models (none trained on
them). Each fold model is a `train fit` model trained on the other folds, a tenth of them (by
duplicate group) held back to choose the best epoch.

The run directory (RUN, `--out`):
    crossval.json          the options, the selection's snapshot hash, each face's fold; the result
    fold-1/ ... fold-K/    each fold model: a `train fit` model directory (not registered)
    fold-N/predictions.npz its probabilities for its held-out fold and for the faces outside the folds

Resumable: the same command again keeps the folds that finished, carries an interrupted fold on
from its last finished epoch (as `train fit --resume`) and starts again a fold killed before its
first. A run is carried on only with the same options on the same selection (else --force).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from curation.export.manifest import counts as selection_counts
from curation.export.manifest import snapshot_sha256
from curation.selection import SplitSelection, select_split
from curation.split import SplitItem, assign_folds, duplicate_groups
from db.catalog import Catalog
from db.types import NewModel
from training import archs, cache, confident, modelio
from training.errors import TrainingError
from training.fit import FIT_FILE, RESUME_DIR, UNRECORDED_WEIGHT_DECAY, FitConfig, run_fit
from training.suggest import CheckResult, store_and_check

RUN_FILE = "crossval.json"
MARKER = "facecat_crossval"
RUN_VERSION = 1
PREDICTIONS_FILE = "predictions.npz"
INNER_SPLIT = "90/10/0"  # a fold model's own train / val (to choose its epoch) of the other folds
ALL_FOLDED = "100/0/0"  # --split default for a cross-validation: every selected face in the folds


class Interrupted(Exception):
    """Ctrl-C during a fold: its state and the finished folds are kept."""


@dataclass(frozen=True)
class CrossValConfig:
    out: Path  # the run directory
    folds: int
    fit: FitConfig  # the fold models' recipe; fit.spec is the selection (fit.out is not used)
    tta: str = "flip"
    method: str = confident.DEFAULT_METHOD

    def fold_fit(self) -> FitConfig:
        """The fold models' recipe with every value filled in: the architecture's, at its
        fold_epochs unless the epochs were given (K models cost K fits; BENCHMARKS.md, "Finding
        label errors", measures the ranking they give)."""
        if self.fit.epochs:
            return self.fit.resolved()
        r = archs.recipe(self.fit.arch)
        return dataclasses.replace(self.fit, epochs=r.fold_epochs or max(1, r.epochs // 2)).resolved()

    def options(self) -> dict:
        """What a run can only be carried on with (the confident-learning method may change), as
        crossval.json holds it (JSON: tuples are lists)."""
        return json.loads(json.dumps({"folds": self.folds, "fit": _fit_options(self.fold_fit()), "tta": self.tta}))


def _fit_options(fit: FitConfig) -> dict:
    d = fit.as_dict()
    for k in ("out", "use_cache"):
        d.pop(k)
    return d


def _differing(now: dict, then: dict) -> list[str]:
    """The options that differ between this command and a saved run. An option the saved run does
    not name (a newer facecat added it) counts as the behaviour the run had: the option's default,
    and no weight decay (there was none before it was recorded)."""
    now, then = _flat(now), _flat(then)
    unrecorded = FitConfig(out=Path(), weight_decay=UNRECORDED_WEIGHT_DECAY)
    defaults = _flat({"fit": json.loads(json.dumps(_fit_options(unrecorded)))})
    differ = {k for k, v in now.items() if v != (then[k] if k in then else defaults.get(k))}
    differ |= set(then) - set(now)
    return sorted({k.rsplit(".", 1)[-1] for k in differ})


@dataclass
class CrossValResult:
    out: Path
    check: CheckResult
    folds: list[dict]  # per fold: faces trained on / held out, accuracy, seconds, kept
    classes: list[str]
    folded: int  # faces in the folds
    outside: int  # faces predicted by the mean of the fold models
    seconds: float
    cpu_seconds: float


def _atomic_write(path: Path, write: Callable) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_run(out: Path, data: dict) -> None:
    _atomic_write(out / RUN_FILE, lambda f: f.write((json.dumps({MARKER: RUN_VERSION, **data}, indent=1) + "\n")
                                                    .encode("utf-8")))


def read_run(out: Path) -> dict | None:
    try:
        data = json.loads((out / RUN_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise TrainingError(f"{out / RUN_FILE} is not readable: {exc}") from None
    if not isinstance(data, dict) or MARKER not in data:
        raise TrainingError(f"{out / RUN_FILE} is not a facecat cross-validation (no {MARKER!r} marker)")
    return data


def saved_run(out: Path) -> dict | None:
    """The run in OUT (crossval.json), None where there is none yet."""
    if out.exists() and not out.is_dir():
        raise TrainingError(f"--out {out} exists and is not a directory")
    return read_run(out) if out.is_dir() else None


def _with_saved_recipe(cfg: CrossValConfig, saved: dict | None) -> CrossValConfig:
    """Epochs and weight decay not given: a run being carried on keeps those it started with, so
    the same command carries it on after the recipe changed."""
    fit = ((saved or {}).get("options") or {}).get("fit")
    if not isinstance(fit, dict):
        return cfg
    epochs, decay = fit.get("epochs"), fit.get("weight_decay", UNRECORDED_WEIGHT_DECAY)
    given = {}
    if cfg.fit.epochs is None and isinstance(epochs, int) and epochs >= 1:
        given["epochs"] = epochs
    if cfg.fit.weight_decay is None and isinstance(decay, (int, float)) and decay >= 0:
        given["weight_decay"] = float(decay)
    return dataclasses.replace(cfg, fit=dataclasses.replace(cfg.fit, **given))


def check_folds(sel: SplitSelection, folded: list, k: int) -> None:
    """Refuse selections that cannot be cross-validated, with the reason."""
    if not sel.assignments:
        spec = sel.spec
        raise TrainingError(f"no labeled faces match the selection (status {spec.status}, classes "
                            f"{', '.join(spec.classes) if spec.classes else 'all'}, sources "
                            f"{', '.join(spec.sources) if spec.sources else 'all'}): a cross-validation trains "
                            "on labels; label some faces first, or import a labeled dataset (see `curate stats`)")
    if len(sel.classes) < 2:
        raise TrainingError(f"only one class ({sel.classes[0]}) in the selection: a classifier needs two or more")
    if not folded:
        raise TrainingError(f"no faces in the train split of {sel.spec.split!r} to cross-validate")
    items = [SplitItem(a.face.id, a.label, a.face.dup_group, a.face.pixel_sha256) for a in folded]
    groups: dict[str, int] = {k_: 0 for k_ in sel.classes}
    for g in duplicate_groups(items):
        for label in {it.label for it in g}:
            groups[label] += 1
    few = [f"{c} ({n})" for c, n in groups.items() if n < 2]
    if few:
        raise TrainingError(f"class(es) with fewer than 2 faces (duplicate groups) to fold: {', '.join(few)}; "
                            f"a fold model must have some to train on: label more, or leave them out with --classes "
                            f"or --map {few[0].split(' ')[0]}=")
    if len(items) < 2 * k:
        raise TrainingError(f"{len(items)} faces are too few for {k} folds")


def _flat(d: dict, prefix: str = "") -> dict:
    """{"fit": {"spec": {"classes": x}}} -> {"fit.spec.classes": x}."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _prepare(out: Path, saved: dict | None, options: dict, snapshot: str, force: bool) -> bool:
    """Make or check RUN (saved: its crossval.json); True when an earlier run of the same options is carried on."""
    if saved is not None and not force:
        differ = _differing(options, saved.get("options") or {})
        if differ:
            raise TrainingError(f"{out} holds a cross-validation with other options ({', '.join(differ)}); "
                                "run it with its own options to carry on, or --force to start over")
        if saved.get("snapshot_sha256") != snapshot:
            raise TrainingError(f"the selection changed since the cross-validation in {out} started (labels, faces "
                                "or duplicate groups): --force starts it over on the catalog as it is now")
        return True
    if out.is_dir() and any(out.iterdir()):
        if saved is None:
            raise TrainingError(f"--out {out} is not empty and holds no facecat cross-validation; choose another --out")
        for child in out.iterdir():  # force: start over
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrainingError(f"cannot write to --out {out}: {exc.strerror or exc}") from None
    return False


def _read_predictions(path: Path, held: np.ndarray, outside: np.ndarray, n_classes: int):
    try:
        with np.load(path) as d:
            if (np.array_equal(d["held_ids"], held) and np.array_equal(d["outside_ids"], outside)
                    and d["held"].shape == (len(held), n_classes) and d["outside"].shape == (len(outside), n_classes)):
                return d["held"], d["outside"], dict(json.loads(str(d["info"])))
    except (OSError, ValueError, KeyError, EOFError):
        pass
    return None


def _fold_state(fold_dir: Path) -> str:
    """'resume' (an interrupted fit), 'trained' (a finished fit), else 'start'."""
    if (fold_dir / RESUME_DIR).is_dir() and (fold_dir / FIT_FILE).is_file():
        return "resume"
    if (fold_dir / modelio.CARD_FILE).is_file() and (fold_dir / modelio.MODEL_FILE).is_file():
        return "trained"
    return "start"


def run_crossval(catalog: Catalog, cfg: CrossValConfig, force: bool = False, say: Callable[[str], None] = print,
                 bar: Callable | None = None) -> CrossValResult:
    """Train the fold models (or carry a run on), store the out-of-fold probabilities, flag the issues.
    say: one line of progress per fold. bar: () -> a progress bar for decoding faces."""
    from training.inference import probabilities

    started = (time.perf_counter(), time.process_time())
    out = cfg.out.absolute()
    saved = saved_run(out)
    if not force:
        cfg = _with_saved_recipe(cfg, saved)
    fit_cfg = cfg.fold_fit()
    sel = select_split(catalog, fit_cfg.spec)
    folded = [a for a in sel.assignments if a.split == "train"]
    outside = [a for a in sel.assignments if a.split != "train"]
    check_folds(sel, folded, cfg.folds)
    folds = assign_folds([SplitItem(a.face.id, a.label, a.face.dup_group, a.face.pixel_sha256) for a in folded],
                         cfg.folds, fit_cfg.spec.seed)
    snapshot = snapshot_sha256(sel.assignments)
    options = cfg.options()
    resumed = _prepare(out, saved, options, snapshot, force)
    run = {"options": options, "selection": fit_cfg.spec.as_dict(), "snapshot_sha256": snapshot,
           "classes": sel.classes, "folds": {str(i + 1): sorted(f for f, k in folds.items() if k == i)
                                            for i in range(cfg.folds)},
           "outside": [a.face.id for a in outside]}
    if not resumed:
        _write_run(out, run)
    with (bar() if bar else _NoBar()) as b:
        pixels = cache.selection_pixels(catalog, sel.assignments, fit_cfg.input_size, progress=b,
                                        use_cache=fit_cfg.use_cache)
    row = {a.face.id: i for i, a in enumerate(sel.assignments)}
    outside_ids = np.array([a.face.id for a in outside], dtype=np.int64)
    k_classes = len(sel.classes)
    probs = np.zeros((len(sel.assignments), k_classes), dtype=np.float32)
    outside_sum = np.zeros((len(outside), k_classes), dtype=np.float64)
    fold_info = []
    for i in range(cfg.folds):
        n = i + 1
        fold_dir = out / f"fold-{n}"
        held_ids = np.array(sorted(f for f, k in folds.items() if k == i), dtype=np.int64)
        trained_on = frozenset(f for f, k in folds.items() if k != i)
        saved = _read_predictions(fold_dir / PREDICTIONS_FILE, held_ids, outside_ids, k_classes)
        if saved is not None:
            held_p, outside_p, info = saved
            say(f"fold {n}/{cfg.folds}: kept from the earlier run (held-out accuracy {info['accuracy']:.1%})")
            info["kept"] = True
        else:
            info = _run_fold(catalog, cfg, fit_cfg, sel, fold_dir, n, trained_on, held_ids, say, bar)
            card = modelio.read_card(fold_dir)
            leaked = card.training_ids() & (set(held_ids.tolist()) | set(outside_ids.tolist()))
            if leaked:  # the folds guarantee it cannot happen; never store such a prediction
                raise TrainingError(f"fold {n}'s model trained on {len(leaked)} of the faces it would predict "
                                    f"(e.g. face {min(leaked)}): its directory {fold_dir} is stale; --force starts over")
            net = modelio.load_keras(card)
            t0, c0 = time.perf_counter(), time.process_time()
            held_p = probabilities(net, pixels.pixels[[row[f] for f in held_ids]], cfg.tta)
            outside_p = probabilities(net, pixels.pixels[[row[f] for f in outside_ids]], cfg.tta)
            labels = np.array([sel.class_index()[sel.assignments[row[f]].label] for f in held_ids])
            info.update(accuracy=float((held_p.argmax(axis=1) == labels).mean()) if len(labels) else 0.0,
                        predict_seconds=round(time.perf_counter() - t0, 1),
                        predict_cpu_seconds=round(time.process_time() - c0, 1), kept=False)
            _atomic_write(fold_dir / PREDICTIONS_FILE, lambda f: np.savez(
                f, held_ids=held_ids, outside_ids=outside_ids, held=held_p, outside=outside_p,
                info=np.array(json.dumps(info))))
            say(f"fold {n}/{cfg.folds}: done in {info['seconds'] / 60:.1f} min ({info['cpu_seconds'] / 60:.1f} min CPU), "
                f"held-out accuracy {info['accuracy']:.1%}")
        probs[[row[f] for f in held_ids]] = held_p
        outside_sum += outside_p
        fold_info.append({"fold": n, **info})
    if len(outside):
        probs[[row[f] for f in outside_ids]] = outside_sum / cfg.folds
    model = catalog.register_model(NewModel(
        name=out.name, path=str(out.resolve()), classes=sel.classes, kind="cross-val",
        params={"folds": cfg.folds, "arch": fit_cfg.arch, "input_size": fit_cfg.input_size, "seed": fit_cfg.spec.seed,
                "tta": cfg.tta, "method": cfg.method, "recipe": options["fit"],
                "selection": {**fit_cfg.spec.as_dict(), "snapshot_sha256": snapshot, "folded": len(folded),
                              "outside": len(outside), "counts": selection_counts(sel)},
                "fold_models": [str(out / f"fold-{i + 1}") for i in range(cfg.folds)]}))
    info_row = catalog.get_model(model)
    faces = [a.face for a in sel.assignments]
    check = store_and_check(catalog, info_row, faces, probs, [a.label for a in sel.assignments],
                            np.zeros(len(faces), dtype=bool), cfg.method, started)
    summary = {"out_of_fold": {"accuracy": check.accuracy, "macro_f1": check.macro_f1, "faces": check.checked},
               "issues": check.issues, "estimated_errors": check.estimated_errors, "method": cfg.method}
    catalog.register_model(NewModel(name=info_row.name, path=info_row.path, classes=sel.classes, kind="cross-val",
                                    params=info_row.params, metrics=summary))
    total = {"seconds": round(sum(f["seconds"] + f.get("predict_seconds", 0) for f in fold_info), 1),
             "cpu_seconds": round(sum(f["cpu_seconds"] + f.get("predict_cpu_seconds", 0) for f in fold_info), 1)}
    _write_run(out, {**run, "result": {"model_id": model, **summary, "folds": fold_info, "fold_totals": total}})
    return CrossValResult(out, check, fold_info, sel.classes, len(folded), len(outside), check.seconds,
                          check.cpu_seconds)


def _run_fold(catalog, cfg, fit_cfg, sel, fold_dir: Path, n: int, trained_on: frozenset, held_ids, say, bar) -> dict:
    spec = dataclasses.replace(fit_cfg.spec, face_ids=trained_on, split=INNER_SPLIT, classes=tuple(sel.classes),
                               faces_from=f"cross-validation fold {n} of {cfg.folds}: the other folds")
    fold_cfg = dataclasses.replace(fit_cfg, out=fold_dir, spec=spec, use_cache=False)
    state = _fold_state(fold_dir)
    if state == "start" and fold_dir.exists():
        shutil.rmtree(fold_dir)  # killed before its first epoch was saved: start it again
    what = {"start": "training", "resume": "carrying on", "trained": "predicting with"}[state]
    say(f"fold {n}/{cfg.folds}: {what} a model on {len(trained_on):,} faces (a tenth of them to choose the epoch), "
        f"held out: {len(held_ids):,}")
    if state == "trained":
        card = modelio.read_card(fold_dir).data
        t = card.get("training", {})
        return {"trained_on": len(trained_on), "held_out": len(held_ids), "epochs_run": t.get("epochs_run"),
                "best_epoch": t.get("best_epoch"), "seconds": t.get("seconds", 0.0),
                "cpu_seconds": t.get("cpu_seconds", 0.0), "resumed": False}
    with (bar() if bar else _NoBar()) as b:
        r = run_fit(catalog, fold_cfg, resume=state == "resume", force=False, bar=b, register=False)
    if r.stopped == "interrupted":
        raise Interrupted(n)
    return {"trained_on": len(trained_on), "held_out": len(held_ids), "epochs_run": r.epochs_run,
            "best_epoch": r.best_epoch, "seconds": round(r.seconds, 1), "cpu_seconds": round(r.cpu_seconds, 1),
            "resumed": state == "resume"}


class _NoBar:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
