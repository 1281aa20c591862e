"""`train fit`: train a model on a catalog selection (see training.fit)."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
from click.core import ParameterSource

from curation.cli_issues import exclude_issues_options, excluding_issues
from curation.selection import STATUSES, SelectionSpec, parse_class_map, parse_names
from db.cli import UserError, catalog_options, on_interrupt, open_for_command, print_json, progress, user_errors
from training import archs
from training.cli_common import RECIPE_OPTIONS, recipe_options

INTERRUPTED = ("interrupted; the best model so far is kept in OUT/model.keras: "
               "run the same command with --resume to carry on")
# Options a --resume run takes from the interrupted run; giving another value is an error.
RECORDED = ("status", "classes", "class_map", "sources", "exclude_issues", "issues_model_ref", "split", "seed",
            *(n for n in RECIPE_OPTIONS if n != "epochs"))


def _list_archs() -> None:
    counts = archs.parameter_counts(48, 7)
    click.echo(f"{'architecture':<12}  {'params':>10}  {'for':<3}  recipe (epochs, batch, optimizer, lr, schedule, weight decay)")
    for name, r in archs.RECIPES.items():
        mark = " (default)" if name == archs.DEFAULT_ARCH else ""
        click.echo(f"{name:<12}  {counts[name]:>10,}  {r.device:<3}  {r.epochs}, {r.batch}, {r.optimizer}, {r.lr:g}, "
                   f"{r.schedule}, {r.weight_decay:g}: {r.summary}{mark}")
    click.echo("(parameters at 48x48 input and 7 classes)")


@click.command(
    "fit",
    epilog="""\b
Examples:
  train fit --out models/fer --split keep --source fer2013      # FER2013 Training / PublicTest
  train fit --out models/mine --status confirmed --split 80/10/10 --seed 1
  train fit --out models/three --classes happy,sad,neutral --map disgust=angry
  train fit --out models/big --arch resnet9-16 --epochs 40 --input-size 100
  train fit --out models/fer --resume                            # after Ctrl-C
  train fit --out models/clean --exclude-issues                  # without the faces `train suggest` flagged
  train fit --arch list                                          # architectures, parameter counts
\b
OUT gets model.keras (the best epoch by validation accuracy), model.json (classes, input size,
preprocessing, recipe, seed, selection with its snapshot hash and split hashes, versions, metrics,
time, machine), history.csv, curves.png, confusion.png and report.txt; the model is registered
in the catalog (`train list`). Ctrl-C stops at the end of the epoch and keeps the best model so
far. Faces are decoded once into a cache ($FACECAT_CACHE, else ~/.cache/facecat).
""",
)
@click.version_option(package_name="facecat")
@catalog_options
@click.option("--out", type=click.Path(path_type=Path), metavar="DIR", help="The model directory to write (models/NAME).")
@click.option("--status", type=click.Choice(STATUSES), default="labeled", show_default=True,
              help="labeled: has a label and is not deleted (in a duplicate group, the label people confirmed "
                   "wins over unreviewed members' labels); confirmed: reviewed and kept.")
@click.option("--classes", metavar="A,B,...", help="Keep only these classes (names after --map), in this output order.")
@click.option("--map", "class_map", metavar="OLD=NEW,...", help="Rename classes (disgust=angry) or drop them (contempt=).")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only faces from this source (repeatable).")
@exclude_issues_options
@click.option("--split", default="80/10/10", show_default=True, metavar="T/V/T|keep",
              help="Train/val/test shares (stratified, duplicate groups kept together, as `curate export`), "
                   "or keep: the faces' split hints (FER2013 Usage: Training, PublicTest = val, PrivateTest = test).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split, the weights and the shuffling.")
@recipe_options()
@click.option("--resume", is_flag=True, help="Carry on an interrupted run in OUT, with its recorded options.")
@click.option("--force", is_flag=True, help="Replace the model already in OUT.")
@click.option("--no-cache", is_flag=True, help="Decode the faces again instead of reading the cache (and do not write it).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@user_errors
@on_interrupt(INTERRUPTED)
def fit_command(ctx: click.Context, catalog_location, store, out, status, classes, class_map, sources, exclude_issues,
                issues_model_ref, split, seed, recipe, resume, force, no_cache, as_json) -> None:
    """Train a CNN on the catalog's labeled faces and register it.

    Faces are chosen and split by curation's selection module, exactly as `curate export` chooses
    them, so an export and a model of the same options hold the same faces in the same splits.
    The same seed and data on the same machine give the same model.
    """
    if recipe["arch"] == "list":
        _list_archs()
        return
    if out is None:
        raise click.UsageError("--out DIR is required (the model directory to write)")
    from training.fit import FIT_FILE, FitConfig, run_fit  # TensorFlow from here on

    spec = SelectionSpec(status=status, classes=parse_names(classes), class_map=parse_class_map(class_map),
                         sources=tuple(sources) or None, split=split, seed=seed)
    cfg = FitConfig(out=out, spec=spec, use_cache=not no_cache, **recipe)
    if resume:
        recorded = _recorded(ctx, out / FIT_FILE, cfg)
        cfg = dataclasses.replace(recorded, out=out, epochs=recipe["epochs"] or recorded.epochs)
    with open_for_command(catalog_location, store) as cat:
        if not resume:  # a resumed run has its selection, flags left out included
            spec, _ = excluding_issues(cat, cfg.spec, exclude_issues, issues_model_ref)
            cfg = dataclasses.replace(cfg, spec=spec)
        with progress(desc="decoding faces", unit="face") as bar:
            result = run_fit(cat, cfg, resume=resume, force=force, bar=bar)
    _show(result, as_json)


def _option_value(cfg, name: str):
    """The value of fit's option `name` in a FitConfig (the selection's options are in its spec)."""
    return getattr(cfg.spec, name) if hasattr(cfg.spec, name) else getattr(cfg, name)


def _recorded(ctx: click.Context, path: Path, given_cfg):
    """The interrupted run's FitConfig; options given again must say what it recorded (the same
    command plus --resume carries on; another value is refused, not silently ignored)."""
    from training.fit import FitConfig

    try:
        cfg = FitConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise UserError(f"nothing to resume in {path.parent}: no interrupted run there") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(f"cannot resume from {path}: {exc}") from None
    given = [n for n in RECORDED if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
    # --exclude-issues is resolved to a model id inside the run's spec: it cannot be compared, only left out
    changed = [n for n in given if n in ("exclude_issues", "issues_model_ref")
               or _option_value(given_cfg, n) != _option_value(cfg, n)]
    if changed:
        def shown(n: str) -> str:
            flag = "--" + n.replace("_", "-").replace("-ref", "").replace("class-map", "map").replace("sources", "source")
            return flag if n in ("exclude_issues", "issues_model_ref") else f"{flag} (it was {_option_value(cfg, n)!r})"
        raise UserError(f"--resume carries on with the interrupted run's own options; leave out or give as "
                        f"recorded {', '.join(shown(n) for n in changed)} (only --epochs may change)")
    return cfg


def _show(r, as_json: bool) -> None:
    if as_json:
        print_json({"path": str(r.out), "model_id": r.model_id, "classes": r.classes, "counts": r.counts,
                    "metrics": r.metrics, "epochs_run": r.epochs_run, "best_epoch": r.best_epoch,
                    "stopped": r.stopped, "seconds": round(r.seconds, 1), "cpu_seconds": round(r.cpu_seconds, 1),
                    "cache_hit": r.cache_hit, "precision": r.precision, **r.extra})
        return
    faces = {s: sum(r.counts[s].values()) for s in r.counts}
    click.echo(f"model {r.model_id} written to {r.out}: {len(r.classes)} classes, {faces['train']:,} training, "
               f"{faces['val']:,} validation, {faces['test']:,} test faces")
    click.echo(f"{r.stopped} after {r.epochs_run} epochs (best: epoch {r.best_epoch}) in {r.seconds / 60:.1f} min "
               f"({r.cpu_seconds / 60:.1f} min CPU, {r.precision}, faces {'from the cache' if r.cache_hit else 'decoded'})")
    review = r.extra.get("review") or {}
    notes = []
    if r.extra.get("excluded_issues") is not None:
        notes.append(f"{r.extra['excluded_issues']:,} flagged faces left out")
    if r.extra.get("relabeled_by_review"):
        notes.append(f"{r.extra['relabeled_by_review']:,} took their duplicate group's confirmed label")
    if review:
        notes.append(f"{review['reviewed']:,} of {review['faces']:,} training faces reviewed, "
                     f"{review['changed_after_suggestion']:,} labels changed after a model's suggestion")
    if notes:
        click.echo("  " + "; ".join(notes))
    for s in ("val", "test"):
        if s in r.metrics and "accuracy" in r.metrics[s]:
            m = r.metrics[s]
            click.echo(f"  {s:<4} accuracy {m['accuracy']:.1%}  macro-F1 {m['macro_f1']:.3f}  ({m['faces']:,} faces)")
    if r.stopped == "interrupted":
        click.echo(f"interrupted: the best model so far is kept; `train fit --out {r.out} --resume` carries on")
