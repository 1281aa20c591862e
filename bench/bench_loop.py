"""The model in the loop, measured (issue 10): finding label errors, whether curation helps, and the
time of `train suggest --cross-val 5`.

    .venv/bin/python bench/bench_loop.py errors   --out bench/results/loop [--epochs N]
    .venv/bin/python bench/bench_loop.py curation --out bench/results/loop --epochs N [--cv-epochs N] [--seeds 0,1,2]

    .venv/bin/python bench/bench_loop.py errors-tta --out bench/results/loop [--epochs N]   # after errors
    .venv/bin/python bench/bench_loop.py review --out bench/results/loop [--epochs N] [--seeds 0,1,2]  # after errors
    .venv/bin/python bench/bench_loop.py report   --out bench/results/loop   # what finished, as markdown

Results: OUT/errors-eN.json and OUT/curation-eN-cvM.json (N, M: the epochs), every step's output
beside them; a step that finished is kept, so the same command again carries on after a kill.

errors: FER2013 Training alone (../shared/data/fer2013/train) imported into a catalog; a known 10% of
its labels flipped at random (seeded; each to one of the six other classes, uniformly) through the
catalog's API; then `train suggest --cross-val 5` (timed as a subprocess: wall clock, its CPU time,
the load average around it). Scored against the flipped faces: precision and recall of the
confident-learning flags, and at k = the number flipped for the confident-learning ranking (flags
first by self-confidence, then the rest), beside the base rate (a random ranking: 10%), the plain
disagreement ranking (faces whose label is not the model's top class first, most confident first)
and self-confidence alone. The same probabilities checked by cleanlab, installed only in a throwaway
venv (--cleanlab PYTHON: the flags of every method compared face by face).

errors-tta: a finished errors run's fold models predict their held-out faces again with each
test-time augmentation (none, flip, flip+shifts): the same models, other views, every ranking
scored again, and self-confidence after the class thresholds are subtracted (Kuan and Mueller's
adjusted self-confidence) beside them: which inference and which ranking find the flipped faces
best, without training anything (OUT/errors-tta-TAG.json).

curation: FER2013 (train = Training, val = PublicTest; `--split keep`), raw labels against the same
recipe after curation, three seeds each, scored on the 3,589 PublicTest files themselves (the same
faces for both arms, labels as published). Curation, on a copy of the raw catalog: `curate dedupe`
(exact and near duplicates grouped), conflicting-label groups of Training faces resolved (a strict
majority label wins; no majority: the group's Training faces deleted), `train suggest --cross-val 5
--split keep` (Training folded, PublicTest only predicted), then `train fit --exclude-issues` (the
flagged faces left out). PublicTest faces are never changed.

review: the errors catalog (10% of the labels flipped) trained three ways on one recipe, scored on
the PublicTest files: as it is; after a simulated person reviewed the top k of `train issues` (k =
the number flipped: each flipped face among them gets its label back, the others are confirmed);
and with `train fit --exclude-issues` (the flagged faces dropped, nobody looking). The loop on noise
of a known size (OUT/review-eN.json).

Every `train` runs from a snapshot of the code at the commit named in the results (so editing the
worktree meanwhile changes nothing), as a subprocess: wall clock, CPU time (user + system of the
process and its children), load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("FACECAT_SHARED_DATA", ROOT.parent / "shared" / "data"))
PY = sys.executable


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def snapshot(out: Path) -> tuple[Path, str]:
    """The committed code, unpacked once per commit under OUT/code-<commit>."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    if dirty:
        log(f"note: uncommitted changes are not in the snapshot of {commit}")
    code = out / f"code-{commit}"
    if not code.is_dir():
        tmp = out / f".code-{commit}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.rename(code)
    return code, commit


def timed(cmd: list[str], code: Path, stdout_to: Path | None = None) -> dict:
    """Run a console script (cmd[0]: its module, e.g. training.cli) from the snapshot; its wall clock,
    CPU time and the load around it."""
    env = {**os.environ, "PYTHONPATH": str(code), "FACECAT_PROGRESS": "0"}
    log("+", " ".join(cmd))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    module, args = cmd[0], cmd[1:]
    runner = f"import sys; from {module} import main; sys.argv[0] = {module.split('.')[0]!r}; main()"
    with open(stdout_to, "w") if stdout_to else open(os.devnull, "w") as f:
        subprocess.run([PY, "-c", runner, *args], check=True, text=True, env=env, stdout=f)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "cpu_per_wall": round(cpu / max(wall, 1e-9), 2),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
            "command": " ".join(["train" if c == "training.cli" else "curate" if c == "curation.cli" else c
                                 for c in cmd])}


def machine() -> dict:
    from training import machine as m

    return {**m.describe([]), "date": datetime.now(timezone.utc).isoformat(timespec="minutes")}


def save(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")


# --- (1) finding label errors ---------------------------------------------------------------------


def flip_labels(catalog_dir: Path, fraction: float, seed: int, record: Path) -> dict:
    """Relabel a seeded random `fraction` of the labeled faces, each to another class chosen
    uniformly, through the catalog's API; the truth goes to `record`."""
    from db import open_catalog
    from db.types import DecisionContext, FaceDecision, FaceFilter

    if record.is_file():
        return json.loads(record.read_text())
    with open_catalog(catalog_dir) as cat:
        classes = cat.class_names()
        faces = list(cat.iter_faces(FaceFilter(selection="labeled")))
        rng = np.random.default_rng(seed)
        chosen = rng.choice(len(faces), size=int(round(fraction * len(faces))), replace=False)
        flips, decisions = {}, []
        for i in sorted(chosen.tolist()):
            f = faces[i]
            new = str(rng.choice([k for k in classes if k != f.label]))
            flips[str(f.id)] = [f.label, new]
            decisions.append(FaceDecision(f.id, f.version, label=new, context=DecisionContext(via="bench-flip")))
        result = cat.annotate_many(decisions, "bench-flip")
        assert not result.conflicts
    data = {"seed": seed, "fraction": fraction, "faces": len(faces), "flipped": len(flips), "flips": flips}
    save(record, data)
    return data


def _ranked(score: np.ndarray, first: np.ndarray | None = None) -> np.ndarray:
    """Indices by score, lowest first; with `first`, those faces before the others."""
    idx = np.arange(len(score))
    keys = (idx, score) if first is None else (idx, score, ~first)
    return np.lexsort(keys)


def scores_at(order: np.ndarray, truth: np.ndarray, k: int) -> dict:
    hit = truth[order[:k]].sum()
    return {"k": int(k), "precision": round(float(hit / k), 4), "recall": round(float(hit / truth.sum()), 4)}


def adjusted_self_confidence(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Self-confidence after each class's threshold t_j (its mean self-confidence) is subtracted and
    the rows renormalised (Kuan and Mueller 2022, "Model-agnostic label quality scoring"; cleanlab's
    adjust_pred_probs): a class the model is always unsure of no longer fills the top of the ranking."""
    from training import confident

    t = confident.thresholds(probs, labels)
    t = np.where(np.isfinite(t), t, 0.0)  # a class nobody has (threshold +inf): nothing to subtract
    adjusted = probs - t[None, :] + t.max()
    adjusted /= adjusted.sum(axis=1, keepdims=True)
    return adjusted[np.arange(len(labels)), labels]


def rankings_at_k(probs: np.ndarray, labels: np.ndarray, truth: np.ndarray) -> dict:
    """Precision and recall at k = the number flipped of every ranking, from one set of probabilities."""
    from training import confident

    k = int(truth.sum())
    found = confident.find_issues(probs, labels, "noise_rate")
    disagree = probs.argmax(axis=1) != labels
    return {
        "confident_learning_self_confidence": scores_at(found.ranking("self_confidence"), truth, k),
        "confident_learning_margin": scores_at(found.ranking("margin"), truth, k),
        "self_confidence_alone": scores_at(_ranked(found.self_confidence), truth, k),
        "margin_alone": scores_at(_ranked(found.margin), truth, k),
        "adjusted_self_confidence_alone": scores_at(_ranked(adjusted_self_confidence(probs, labels)), truth, k),
        # Disagreement: faces whose label is not the top class first, most confident first.
        "plain_disagreement": scores_at(_ranked(-probs.max(axis=1), disagree), truth, k),
        "random": {"k": k, "precision": round(k / len(labels), 4), "recall": round(k / len(labels), 4)},
    }


def error_figures(catalog_dir: Path, run: Path, flips: dict, cleanlab_python: str | None, out: Path) -> dict:
    from db import open_catalog
    from training import confident

    with open_catalog(catalog_dir) as cat:
        info = cat.get_model(run)
        preds = cat.predictions(info.id)
        faces = {f.id: f for f in cat.faces_by_ids(sorted(preds))}
    ids = np.array(sorted(preds), dtype=np.int64)
    classes = list(info.classes)
    index = {k: i for i, k in enumerate(classes)}
    probs = np.array([[preds[i].probabilities[k] for k in classes] for i in ids])
    labels = np.array([index[faces[i].label] for i in ids])
    truth = np.array([str(i) in flips["flips"] for i in ids])
    original = np.array([index[flips["flips"][str(i)][0]] if str(i) in flips["flips"] else index[faces[i].label]
                         for i in ids])
    stored = np.array([preds[i].issue for i in ids])
    k = int(truth.sum())
    top = probs.argmax(axis=1)
    found = confident.find_issues(probs, labels, "noise_rate")
    disagree = top != labels
    figures = {
        "faces": int(len(ids)), "flipped": k, "base_rate": round(k / len(ids), 4),
        "out_of_fold_accuracy": {"vs_labels_as_flipped": round(float((top == labels).mean()), 4),
                                 "vs_original_labels": round(float((top == original).mean()), 4),
                                 "on_flipped_faces_vs_original": round(float((top == original)[truth].mean()), 4)},
        "stored_flags": {"flagged": int(stored.sum()), "precision": round(float(truth[stored].mean()), 4),
                         "recall": round(float(truth[stored].sum() / k), 4),
                         "same_as_recomputed": bool(np.array_equal(stored, found.issues))},
        "estimated_errors": found.estimated_errors(),
        "at_k": rankings_at_k(probs, labels, truth),
        "disagreement_set": {"size": int(disagree.sum()), "precision": round(float(truth[disagree].mean()), 4),
                             "recall": round(float(truth[disagree].sum() / k), 4)},
        "methods": {},
    }
    for method in confident.METHODS:
        m = confident.find_issues(probs, labels, method).issues
        figures["methods"][method] = {"flagged": int(m.sum()), "precision": round(float(truth[m].mean()), 4),
                                      "recall": round(float(truth[m].sum() / k), 4)}
    # Among the flagged faces that were not flipped: FER2013's own doubtful labels (or the model's errors).
    unflipped = found.issues & ~truth
    figures["flagged_not_flipped"] = {"faces": int(unflipped.sum()),
                                      "by_label": dict(Counter(classes[i] for i in labels[unflipped]).most_common())}
    # Where the paper's confident class (the most probable of the classes at their threshold) and
    # cleanlab's (with two or more at their threshold: the most probable class of all) can differ.
    above = probs >= found.thresholds[None, :] - confident.TOLERANCE
    figures["rule_differs_from_cleanlab"] = int(((above.sum(axis=1) > 1) & ~above[np.arange(len(ids)), top]).sum())
    if cleanlab_python:
        np.savez(out / "errors-probs.npz", probs=probs, labels=labels)
        figures["cleanlab"] = cleanlab_check(cleanlab_python, out / "errors-probs.npz",
                                             {m: confident.find_issues(probs, labels, m).issues for m in confident.METHODS})
    return figures


CLEANLAB_METHODS = {"noise_rate": "prune_by_noise_rate", "class": "prune_by_class", "both": "both",
                    "confident_joint": "confident_learning"}


def cleanlab_check(python: str, npz: Path, ours: dict[str, np.ndarray]) -> dict:
    """cleanlab's find_label_issues on the same probabilities (in its own interpreter: AGPL-3, never
    imported here), compared with ours face by face."""
    script = (
        "import sys, json, numpy as np, cleanlab\n"
        "from cleanlab.filter import find_label_issues\n"
        "d = np.load(sys.argv[1]); out = {'version': cleanlab.__version__}\n"
        f"for ours, theirs in {CLEANLAB_METHODS!r}.items():\n"
        "    m = find_label_issues(d['labels'], d['probs'], filter_by=theirs)\n"
        "    out[ours] = np.flatnonzero(m).tolist()\n"
        "print(json.dumps(out))\n")
    r = subprocess.run([python, "-c", script, str(npz)], check=True, capture_output=True, text=True)
    theirs = json.loads(r.stdout)
    out = {"cleanlab_version": theirs["version"]}
    for method, mask in ours.items():
        t = np.zeros(len(mask), dtype=bool)
        t[theirs[method]] = True
        out[method] = {"ours": int(mask.sum()), "cleanlab": int(t.sum()), "both": int((mask & t).sum()),
                       "only_ours": int((mask & ~t).sum()), "only_cleanlab": int((~mask & t).sum())}
    return out


def errors(args) -> None:
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    code, commit = snapshot(out)
    catalog = out / "errors-catalog"
    if not (catalog / "catalog.sqlite").exists():
        only_train = out / "fer2013-training-only"
        only_train.mkdir(exist_ok=True)
        if not (only_train / "train").exists():
            (only_train / "train").symlink_to(SHARED / "fer2013" / "train")
        timed(["curation.cli", "init", "--catalog", str(catalog)], code)
        timed(["curation.cli", "import", "fer2013", str(only_train), "--catalog", str(catalog)], code)
    flips = flip_labels(catalog, args.flip, args.seed, out / "errors-flips.json")
    log(f"{flips['flipped']:,} of {flips['faces']:,} labels flipped")
    tag = f"e{args.epochs}" if args.epochs else "default"  # runs of other epochs live beside, not over it
    run = out / f"errors-cv-{tag}"
    result_file = out / f"errors-suggest-{tag}.txt"  # what the command prints
    cmd = ["training.cli", "suggest", "--catalog", str(catalog), "--cross-val", str(args.folds), "--out", str(run),
           "--seed", str(args.seed)] + (["--epochs", str(args.epochs)] if args.epochs else [])
    timing = timed(cmd, code, result_file)
    figures = error_figures(catalog, run, flips, args.cleanlab, out)
    crossval = json.loads((run / "crossval.json").read_text())["result"]
    data = {"machine": machine(), "commit": commit, "timing": timing, "recipe": {"epochs": args.epochs or "default"},
            "folds": crossval["folds"], "fold_totals": crossval["fold_totals"], "figures": figures}
    save(out / f"errors-{tag}.json", data)
    print(json.dumps(data, indent=1, default=str))


def fold_probabilities(catalog_dir: Path, run: Path, tta: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """A finished cross-validation's out-of-fold probabilities predicted again by its own fold models
    with another test-time augmentation: (face ids, labels as class indices, probabilities, classes),
    the folded faces only."""
    from curation.selection import SelectionSpec, select_split
    from db import open_catalog
    from training import cache, modelio
    from training.inference import probabilities

    saved = json.loads((run / "crossval.json").read_text())
    with open_catalog(catalog_dir) as cat:
        sel = select_split(cat, SelectionSpec.from_dict(saved["selection"]))
        size = int(saved["options"]["fit"]["input_size"])
        pixels = cache.selection_pixels(cat, sel.assignments, size).pixels
    row = {a.face.id: i for i, a in enumerate(sel.assignments)}
    ids = np.array(sorted(f for held in saved["folds"].values() for f in held), dtype=np.int64)
    where = {f: i for i, f in enumerate(ids.tolist())}
    index = sel.class_index()
    labels = np.array([index[sel.assignments[row[f]].label] for f in ids.tolist()])  # after the run's --map
    probs = np.zeros((len(ids), len(sel.classes)), dtype=np.float32)
    for n, held in saved["folds"].items():
        net = modelio.load_keras(modelio.read_card(run / f"fold-{n}"))
        probs[[where[f] for f in held]] = probabilities(net, pixels[[row[f] for f in held]], tta)
    return ids, labels, probs, sel.classes


def errors_tta(args) -> None:
    """The errors run's fold models again, each test-time augmentation: the same models, other views."""
    out = args.out.absolute()
    tag = f"e{args.epochs}" if args.epochs else "default"
    run, catalog = out / f"errors-cv-{tag}", out / "errors-catalog"
    flips = json.loads((out / "errors-flips.json").read_text())
    results = {}
    for tta in ("none", "flip", "flip+shifts"):
        t0 = time.perf_counter()
        ids, labels, probs, _ = fold_probabilities(catalog, run, tta)
        truth = np.array([str(i) in flips["flips"] for i in ids])
        results[tta] = {"seconds": round(time.perf_counter() - t0, 1),
                        "accuracy_vs_labels_as_flipped": round(float((probs.argmax(axis=1) == labels).mean()), 4),
                        "at_k": rankings_at_k(probs, labels, truth)}
        log(tta, json.dumps(results[tta]["at_k"]))
    save(out / f"errors-tta-{tag}.json", {"machine": machine(), "run": str(run), "tta": results})
    print(json.dumps(results, indent=1))


# --- (2) curation helps? ---------------------------------------------------------------------------


def resolve_conflicts(catalog_dir: Path, record: Path) -> dict:
    """Duplicate groups of Training faces whose labels disagree: a strict majority label wins (the
    others are relabeled to it); without one, the group's faces are deleted. Groups that hold a
    PublicTest face are left alone (`--split keep` moves them, whole, out of training; their
    labels are test labels). Through the catalog's API, as a person in the labeler would."""
    from db import open_catalog
    from db.types import DecisionContext, FaceDecision, FaceFilter, Status

    if record.is_file():
        return json.loads(record.read_text())
    groups: dict[int, list] = {}
    with open_catalog(catalog_dir) as cat:
        for f in cat.iter_faces(FaceFilter()):
            if f.dup_group is not None:
                groups.setdefault(f.dup_group, []).append(f)
        ctx = DecisionContext(via="bench-curation")
        decisions, relabeled, deleted, mixed, conflicting = [], 0, 0, 0, 0
        for members in groups.values():
            labels = Counter(f.label for f in members)
            if len(labels) < 2:
                continue
            conflicting += 1
            if any(f.split_hint != "Training" for f in members):
                mixed += 1
                continue
            (top, n), *rest = labels.most_common()
            if n > len(members) / 2:
                for f in members:
                    if f.label != top:
                        decisions.append(FaceDecision(f.id, f.version, label=top, context=ctx))
                        relabeled += 1
            else:
                for f in members:
                    decisions.append(FaceDecision(f.id, f.version, status=Status.DELETED, context=ctx))
                    deleted += 1
        result = cat.annotate_many(decisions, "bench-curation")
        assert not result.conflicts
    data = {"groups": len(groups), "conflicting": conflicting, "with_public_test": mixed,
            "relabeled": relabeled, "deleted": deleted}
    save(record, data)
    return data


def drop_flagged(catalog_dir: Path, run: Path, record: Path) -> dict:
    """The Training faces the cross-validation flagged: deleted (what `--exclude-issues` does in a
    fit, but only for Training: PublicTest stays whole as the validation split)."""
    from db import open_catalog
    from db.types import DecisionContext, FaceDecision, Status

    if record.is_file():
        data = json.loads(record.read_text())
        if data.get("run") != run.name:  # the catalog already lost another run's flagged faces
            raise SystemExit(f"{catalog_dir} had the faces flagged by {data.get('run')} deleted, not {run.name}'s: "
                             "remove it (and its records) to start the curation over")
        return data
    with open_catalog(catalog_dir) as cat:
        info = cat.get_model(run)
        flagged = cat.issue_face_ids(info.id)
        faces = cat.faces_by_ids(flagged)
        preds = cat.predictions(info.id, flagged)
        train = [f for f in faces if f.split_hint == "Training"]
        ctx = DecisionContext(via="bench-curation")
        result = cat.annotate_many([FaceDecision(f.id, f.version, status=Status.DELETED, context=ctx) for f in train],
                                   "bench-curation")
        assert not result.conflicts
    data = {"run": run.name, "flagged": len(flagged), "deleted_training": len(train),
            "flagged_public_test_kept": len(flagged) - len(train),
            "by_label": dict(Counter(f.label for f in train).most_common()),
            "to_model_class": dict(Counter(f"{f.label}->{preds[f.id].label}" for f in train).most_common(12))}
    save(record, data)
    return data


def fit_and_score(catalog: Path, model: Path, seed: int, epochs: int, code: Path, out: Path,
                  selection: tuple[str, ...] = ("--split", "keep")) -> dict:
    done = out / f"{model.name}.json"
    if done.is_file():
        return json.loads(done.read_text())
    fit = timed(["training.cli", "fit", "--catalog", str(catalog), "--out", str(model), *selection,
                 "--source", "fer2013", "--seed", str(seed), "--epochs", str(epochs), "--force", "--json"],
                code, out / f"{model.name}.fit.json")
    scores = {}
    for tta in ("none", "flip"):
        timed(["training.cli", "evaluate", str(model), "--catalog", str(catalog), "--folders",
               str(SHARED / "fer2013" / "test"), "--tta", tta, "--json"], code, out / f"{model.name}.eval-{tta}.json")
        e = json.loads((out / f"{model.name}.eval-{tta}.json").read_text())
        scores[tta] = {"accuracy": e["accuracy"], "macro_f1": e["macro_f1"], "faces": e["faces"],
                       "recall": {k: v["recall"] for k, v in e["per_class"].items()}}
    card = json.loads((model / "model.json").read_text())
    data = {"model": str(model), "seed": seed, "fit": fit, "public_test": scores,
            "train_faces": card["metrics"]["train"]["faces"], "val": card["metrics"]["val"],
            "best_epoch": card["training"]["best_epoch"], "epochs_run": card["training"]["epochs_run"]}
    save(done, data)
    return data


def summarize(arms: dict[str, list]) -> dict:
    """Each arm's PublicTest accuracy and macro-F1 over its seeds: mean, sd, per seed; plain and mirror TTA."""
    summary = {}
    for arm, runs in arms.items():
        summary[arm] = {}
        for tta in ("none", "flip"):
            acc = np.array([r["public_test"][tta]["accuracy"] for r in runs])
            f1 = np.array([r["public_test"][tta]["macro_f1"] for r in runs])
            summary[arm][tta] = {"accuracy_mean": round(float(acc.mean()), 4), "accuracy_std": round(float(acc.std(ddof=1)), 4)
                                 if len(acc) > 1 else 0.0, "macro_f1_mean": round(float(f1.mean()), 4),
                                 "macro_f1_std": round(float(f1.std(ddof=1)), 4) if len(f1) > 1 else 0.0,
                                 "per_seed": acc.round(4).tolist()}
    return summary


def curation(args) -> None:
    out = args.out.absolute()
    out.mkdir(parents=True, exist_ok=True)
    code, commit = snapshot(out)
    raw = out / "fer-raw"
    if not (raw / "catalog.sqlite").exists():
        timed(["curation.cli", "init", "--catalog", str(raw)], code)
        timed(["curation.cli", "import", "fer2013", str(SHARED / "fer2013"), "--catalog", str(raw)], code)
    curated = out / "fer-curated"
    steps: dict = {}
    if not (curated / "catalog.sqlite").exists():
        tmp = out / ".fer-curated.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(raw, tmp)
        steps["dedupe"] = timed(["curation.cli", "dedupe", "--catalog", str(tmp), "--json"], code,
                                out / "curated-dedupe.json")
        tmp.rename(curated)
    steps["conflicts"] = resolve_conflicts(curated, out / "curated-conflicts.json")
    run = out / f"curated-cv-e{args.cv_epochs}"
    cv_file = out / f"{run.name}.suggest.txt"  # what the command prints (README shows it)
    timing_file = out / f"{run.name}.timing.json"
    if not timing_file.is_file():
        timing = timed(["training.cli", "suggest", "--catalog", str(curated), "--cross-val", "5", "--out", str(run),
                        "--split", "keep", "--source", "fer2013", "--seed", "0", "--epochs", str(args.cv_epochs)],
                       code, cv_file)
        save(timing_file, timing)
    steps["cross_val"] = {**json.loads(timing_file.read_text()),
                          **json.loads((run / "crossval.json").read_text())["result"]}
    steps["dropped"] = drop_flagged(curated, run, out / "curated-dropped.json")
    arms: dict[str, list] = {"raw": [], "curated": []}
    for seed in args.seeds:  # seed by seed, both arms: a run cut short still has pairs to compare
        for arm, catalog in (("raw", raw), ("curated", curated)):
            arms[arm].append(fit_and_score(catalog, out / "models" / f"{arm}-e{args.epochs}-s{seed}", seed,
                                           args.epochs, code, out))
    summary = summarize(arms)
    data = {"machine": machine(), "commit": commit, "recipe": {"epochs": args.epochs, "cv_epochs": args.cv_epochs,
                                                               "seeds": args.seeds},
            "steps": steps, "arms": arms, "summary": summary}
    save(out / f"curation-e{args.epochs}-cv{args.cv_epochs}.json", data)
    print(json.dumps(summary, indent=1))


# --- (2b) the loop on known noise: review the top of the ranking, train again -------------------------
def simulate_review(catalog_dir: Path, run: Path, flips: dict, k: int, record: Path) -> dict:
    """A person works down `train issues` (the flagged faces first, by self-confidence; what the
    labeler shows in its "likely mislabeled" order) for its first k faces and gives each its true
    label: a flipped face gets its FER2013 label back, any other is confirmed as it stands (FER2013's
    own mistakes cannot be known here). Through the catalog's API, as the labeler writes."""
    from db import open_catalog
    from db.types import DecisionContext, FaceDecision, Status
    from training import confident

    if record.is_file():
        return json.loads(record.read_text())
    with open_catalog(catalog_dir) as cat:
        info = cat.get_model(run)
        preds = cat.predictions(info.id)
        ids = sorted(preds)
        faces = {f.id: f for f in cat.faces_by_ids(ids)}
        classes = list(info.classes)
        probs = np.array([[preds[i].probabilities[c] for c in classes] for i in ids])
        labels = np.array([classes.index(faces[i].label) for i in ids])
        top = [ids[j] for j in confident.find_issues(probs, labels, "noise_rate").ranking("self_confidence")[:k]]
        decisions = []
        for i in top:
            f = faces[i]
            truth = flips["flips"].get(str(i), [f.label])[0]
            ctx = DecisionContext(via="bench-review", model_id=info.id, predicted_label=preds[i].label,
                                  predicted_confidence=preds[i].confidence)
            decisions.append(FaceDecision(i, f.version, label=truth, status=Status.CONFIRMED, context=ctx))
        result = cat.annotate_many(decisions, "bench-review")
        assert not result.conflicts
    fixed = sum(str(i) in flips["flips"] for i in top)
    data = {"run": run.name, "reviewed": len(top), "flipped_fixed": fixed, "confirmed_as_they_were": len(top) - fixed,
            "flipped_left": flips["flipped"] - fixed}
    save(record, data)
    return data


def review(args) -> None:
    """FER2013 Training with its 10% flipped labels (the errors run's catalog), trained three ways on
    the same recipe: as it is (noisy); after a person reviewed the top k of `train issues` (k = the
    number flipped; reviewed); with `--exclude-issues` (the flagged faces dropped, nobody looking).
    Scored on the PublicTest files. What the loop buys on noise whose size is known."""
    out = args.out.absolute()
    code, commit = snapshot(out)
    tag = f"e{args.cv_epochs}" if args.cv_epochs else "default"
    run, noisy = out / f"errors-cv-{tag}", out / "errors-catalog"
    if not (run / "crossval.json").is_file():
        raise SystemExit(f"no finished errors run in {run}: run `bench_loop.py errors` first")
    flips = json.loads((out / "errors-flips.json").read_text())
    reviewed = out / "review-catalog"
    if not (reviewed / "catalog.sqlite").exists():
        tmp = out / ".review-catalog.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(noisy, tmp)
        tmp.rename(reviewed)
    k = args.k or flips["flipped"]
    steps = {"review": simulate_review(reviewed, run, flips, k, out / "review-decisions.json")}
    split = ("--split", args.split)
    plans = {"noisy": (noisy, split), "reviewed": (reviewed, split),
             "exclude_issues": (noisy, (*split, "--exclude-issues", "--issues-model", str(run)))}
    arms: dict[str, list] = {a: [] for a in args.arms}
    for seed in args.seeds:  # seed by seed, every arm: a run cut short still has sets to compare
        for arm in args.arms:
            catalog, selection = plans[arm]
            arms[arm].append(fit_and_score(catalog, out / "models" / f"review-{arm}-e{args.epochs}-s{seed}", seed,
                                           args.epochs, code, out, selection))
    data = {"machine": machine(), "commit": commit, "recipe": {"epochs": args.epochs, "split": args.split,
                                                               "seeds": args.seeds, "k": k, "fold_models": tag},
            "steps": steps, "arms": arms, "summary": summarize(arms)}
    save(out / f"review-e{args.epochs}.json", data)
    print(json.dumps(data["summary"], indent=1))


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def report(args) -> None:
    """The results in OUT as the markdown BENCHMARKS.md holds (what finished so far)."""
    out = args.out.absolute()
    for path in sorted(out.glob("errors-*.json")):
        if not path.name.startswith("errors-e") and not path.name.startswith("errors-default"):
            continue
        d = json.loads(path.read_text())
        f, t = d["figures"], d["timing"]
        print(f"### {path.name}: {d['commit']}, {d['machine']['date']}\n")
        print(f"`{t['command']}`: {t['wall_s'] / 60:.1f} min wall, {t['cpu_s'] / 60:.1f} min CPU, load "
              f"{t['load_before'][0]} -> {t['load_after'][0]}; {f['faces']:,} faces, {f['flipped']:,} flipped "
              f"(base rate {_pct(f['base_rate'])}); out-of-fold accuracy against the flipped labels "
              f"{_pct(f['out_of_fold_accuracy']['vs_labels_as_flipped'])}, against the original ones "
              f"{_pct(f['out_of_fold_accuracy']['vs_original_labels'])}\n")
        print("| ranking (k = faces flipped) | precision@k | recall@k |\n|---|---:|---:|")
        for name, r in f["at_k"].items():
            print(f"| {name.replace('_', ' ')} | {_pct(r['precision'])} | {_pct(r['recall'])} |")
        print("\n| flagged set | faces | precision | recall |\n|---|---:|---:|---:|")
        s = f["stored_flags"]
        print(f"| stored flags (noise rate) | {s['flagged']:,} | {_pct(s['precision'])} | {_pct(s['recall'])} |")
        for name, m in f["methods"].items():
            print(f"| {name} | {m['flagged']:,} | {_pct(m['precision'])} | {_pct(m['recall'])} |")
        ds = f["disagreement_set"]
        print(f"| model disagrees | {ds['size']:,} | {_pct(ds['precision'])} | {_pct(ds['recall'])} |\n")
        if "cleanlab" in f:
            print("cleanlab " + f["cleanlab"]["cleanlab_version"] + ": " + ", ".join(
                f"{m}: ours {c['ours']}, theirs {c['cleanlab']}, both {c['both']}"
                for m, c in f["cleanlab"].items() if m != "cleanlab_version") + "\n")
        for fold in d["folds"]:
            print(f"fold {fold['fold']}: {fold['seconds'] / 60:.1f} min, held-out accuracy {_pct(fold['accuracy'])}")
        print()
    for path in sorted(out.glob("curation-e[0-9]*.json")) + sorted(out.glob("review-e[0-9]*.json")):
        d = json.loads(path.read_text())
        print(f"### {path.name}: {d['commit']}, {d['machine']['date']}\n")
        print("| arm | seeds | PublicTest accuracy mean +- sd | per seed | + mirror TTA | macro-F1 |\n|---|---|---:|---|---:|---:|")
        for arm, v in d["summary"].items():
            n, f = v["none"], v["flip"]
            print(f"| {arm} | {len(n['per_seed'])} | {_pct(n['accuracy_mean'])} +- {_pct(n['accuracy_std'])} | "
                  f"{', '.join(_pct(x) for x in n['per_seed'])} | {_pct(f['accuracy_mean'])} +- "
                  f"{_pct(f['accuracy_std'])} | {n['macro_f1_mean']:.3f} |")
        print("\n" + json.dumps(d["steps"], indent=1, default=str)[:3000])
    # What finished of a curation or review run that has not written its summary yet.
    for path in sorted(out.glob("*-e*-s*.json")):
        if not re.fullmatch(r"(raw|curated|review-\w+)-e\d+-s\d+", path.stem):
            continue
        r = json.loads(path.read_text())
        print(f"{path.stem}: PublicTest {_pct(r['public_test']['none']['accuracy'])} (mirror TTA "
              f"{_pct(r['public_test']['flip']['accuracy'])}), {r['train_faces']:,} training faces, "
              f"fit {r['fit']['wall_s'] / 60:.1f} min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    e = sub.add_parser("errors", help="(1) finding label errors, and (3) the time of --cross-val")
    e.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loop")
    e.add_argument("--epochs", type=int, default=None, help="fold models' epochs [default: the CPU default recipe's]")
    e.add_argument("--folds", type=int, default=5)
    e.add_argument("--flip", type=float, default=0.1)
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--cleanlab", metavar="PYTHON", help="an interpreter with cleanlab installed (a throwaway venv)")
    c = sub.add_parser("curation", help="(2) raw labels against the same recipe after curation")
    c.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loop")
    c.add_argument("--epochs", type=int, default=10, help="epochs of every fit, both arms")
    c.add_argument("--cv-epochs", type=int, default=8, help="epochs of the curation's fold models")
    c.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0, 1, 2])
    v = sub.add_parser("review", help="(2b) the errors catalog trained as it is, after a person reviewed the top k, and with --exclude-issues")
    v.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loop")
    v.add_argument("--epochs", type=int, default=6, help="epochs of every fit")
    v.add_argument("--cv-epochs", type=int, default=None, help="which errors run (its fold models' epochs)")
    v.add_argument("--k", type=int, default=None, help="faces reviewed [default: the number flipped]")
    v.add_argument("--split", default="90/10/0", help="train fit --split of every arm")
    v.add_argument("--arms", type=lambda t: t.split(","), default=["noisy", "reviewed", "exclude_issues"])
    v.add_argument("--seeds", type=lambda t: [int(x) for x in t.split(",")], default=[0, 1, 2])
    t = sub.add_parser("errors-tta", help="the errors run's fold models again with each test-time augmentation")
    t.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loop")
    t.add_argument("--epochs", type=int, default=None, help="which errors run (its fold models' epochs)")
    r = sub.add_parser("report", help="what finished, as markdown for BENCHMARKS.md")
    r.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "loop")
    args = ap.parse_args()
    {"errors": errors, "errors-tta": errors_tta, "curation": curation, "review": review,
     "report": report}[args.what](args)


if __name__ == "__main__":
    main()
