"""`train suggest`: a model's class probabilities for catalog faces, stored for the labeler, and the
likely mislabeled faces flagged (training.suggest; with --cross-val, training.crossval)."""
from __future__ import annotations

from pathlib import Path

import click
from click.core import ParameterSource

from curation.selection import STATUSES, SelectionSpec, parse_class_map, parse_names
from db.cli import catalog_options, on_interrupt, open_for_command, print_json, progress, user_errors
from training import confident
from training.cli_common import RECIPE_OPTIONS, recipe_options
from training.inference import TTA_MODES
from training.suggest import FACE_CHOICES

INTERRUPTED = ("interrupted; the finished folds (and an interrupted fold's last epoch) are kept: "
               "run the same command again to carry on")
# Options that only a cross-validation takes (the fold models' selection and recipe).
CROSS_VAL_ONLY = ("out", "status", "split", "seed", *RECIPE_OPTIONS, "force")
METHOD_NAMES = {"noise_rate": "prune by noise rate", "class": "prune by class", "both": "prune by class and noise rate",
                "confident_joint": "off-diagonal of the confident joint"}


@click.command(
    "suggest",
    epilog="""\b
Examples:
  train suggest models/fer                                   # every face not deleted
  train suggest models/fer --faces unreviewed --source "bing: sad face"
  train suggest models/fer --faces labeled --classes fear,sad        # only faces labeled fear or sad
  train suggest --cross-val 5 --out runs/cv5 --source fer2013            # out-of-fold, every labeled face
  train suggest --cross-val 5 --out runs/cv5 --source fer2013 --split keep --epochs 8
  train suggest --cross-val 5 --out runs/cv5 --source fer2013            # again after a kill: carries on
  train issues runs/cv5 --top 20                             # then: the flagged faces, most likely wrong first
\b
With MODEL: its probabilities for the chosen faces; faces it trained on (or their duplicates) are
stored as in-sample and never checked. With --cross-val K: K fold models, each trained (as `train
fit`, with its options) on K-1 folds of the selection, predict the fold they never saw; duplicate
groups stay inside one fold. With --split keep or ratios only the train split is folded, and the
val and test faces get the mean of the fold models. The run directory (--out) keeps each fold model;
a killed or interrupted run carries on when the same command runs again.
\b
Then confident learning (Northcutt et al., JAIR 2021) flags the labels likely wrong among the
out-of-sample faces; faces a person confirmed are never flagged. The labeler shows the newest
model's predictions: order "Likely mislabeled first", filter "Flagged by confident learning".
""",
)
@click.version_option(package_name="facecat")
@click.argument("model", required=False)
@catalog_options
@click.option("--cross-val", "folds", type=click.IntRange(2, 50), metavar="K",
              help="Train K fold models on the selection instead of using MODEL; every face gets out-of-fold probabilities.")
@click.option("--faces", "faces", type=click.Choice(FACE_CHOICES), default="all", show_default=True,
              help="With MODEL: which faces to predict (all: every face not deleted).")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only faces from this source (repeatable).")
@click.option("--map", "class_map", metavar="OLD=NEW,...",
              help="Rename the catalog's classes (anger=angry) or drop them (contempt=) to match the model's.")
@click.option("--tta", type=click.Choice(TTA_MODES), default="flip", show_default=True,
              help="Test-time augmentation of the predictions (flip: the mean over the face and its mirror).")
@click.option("--method", type=click.Choice(confident.METHODS), default=confident.DEFAULT_METHOD, show_default=True,
              help="Which faces confident learning flags: noise_rate (the paper's prune by noise rate), class, both, "
                   "or confident_joint (its off-diagonal).")
@click.option("--out", type=click.Path(path_type=Path), metavar="RUN", help="With --cross-val: the run directory.")
@click.option("--status", type=click.Choice(STATUSES), default="labeled", show_default=True,
              help="With --cross-val: labeled (a duplicate group's confirmed label wins) or confirmed faces.")
@click.option("--classes", metavar="A,B,...",
              help="Only faces labeled (or suggested) one of these classes, names after --map: confident learning "
                   "weighs them against each other, and other faces keep their flags; with --cross-val, the classes "
                   "the fold models learn.")
@click.option("--split", default="all", show_default=True, metavar="all|keep|T/V/T",
              help="With --cross-val: all: every selected face is folded; keep or ratios: only the train split "
                   "(as `train fit --split`), val and test faces get the fold models' mean.")
@click.option("--seed", type=int, default=0, show_default=True, help="With --cross-val: seed of the folds and the fits.")
@recipe_options(prefix="With --cross-val, the fold models': ",
                epochs_default="the recipe's fold epochs, 15 for the CPU default")
@click.option("--force", is_flag=True, help="With --cross-val: start over, replacing the run in RUN.")
@click.option("--no-cache", is_flag=True, help="Decode the faces again instead of reading the cache (and do not write it).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
@user_errors
@on_interrupt(INTERRUPTED)
def suggest_command(ctx: click.Context, model, catalog_location, store, folds, faces, sources, class_map, tta, method,
                    out, status, classes, split, seed, recipe, force, no_cache, as_json) -> None:
    """Store MODEL's class probabilities for catalog faces (or, with --cross-val K, every labeled
    face's out-of-fold probabilities) and flag the faces whose label is likely wrong."""
    given = [n for n in CROSS_VAL_ONLY if ctx.get_parameter_source(n) is ParameterSource.COMMANDLINE]
    if folds is None:
        if model is None:
            raise click.UsageError("give MODEL (a model directory, name or id), or --cross-val K --out RUN")
        if given:
            raise click.UsageError(f"{', '.join('--' + n.replace('_', '-') for n in given)} go(es) with --cross-val")
        _suggest_model(catalog_location, store, model, faces, sources, class_map, classes, tta, method, no_cache,
                       as_json)
        return
    if model is not None:
        raise click.UsageError(f"--cross-val trains its own models: leave out MODEL ({model})")
    if ctx.get_parameter_source("faces") is ParameterSource.COMMANDLINE:
        raise click.UsageError("--faces goes with MODEL; a cross-validation predicts the selection (--status, --source)")
    if out is None:
        raise click.UsageError("--cross-val needs --out RUN (the run directory: fold models, progress)")
    from training.crossval import ALL_FOLDED, CrossValConfig, Interrupted, run_crossval
    from training.fit import FitConfig

    spec = SelectionSpec(status=status, classes=parse_names(classes), class_map=parse_class_map(class_map),
                         sources=tuple(sources) or None, split=ALL_FOLDED if split == "all" else split, seed=seed)
    fit = FitConfig(out=out, spec=spec, use_cache=not no_cache, **recipe)
    cfg = CrossValConfig(out=out, folds=folds, fit=fit, tta=tta, method=method)
    with open_for_command(catalog_location, store) as cat:
        try:
            r = run_crossval(cat, cfg, force=force, say=lambda s: click.echo(s, err=True),
                             bar=lambda: progress(desc="decoding faces", unit="face"))
        except Interrupted:
            raise KeyboardInterrupt from None
    if as_json:
        print_json({"path": str(r.out), "kind": "cross-val", "folded": r.folded, "outside": r.outside,
                    "folds": r.folds, "classes": r.classes, **r.check.as_dict()})
        return
    c = r.check
    click.echo(f"cross-validation {c.model_name} (model {c.model_id}): {cfg.folds} folds over {r.folded:,} faces"
               + (f", {r.outside:,} more predicted by the fold models' mean" if r.outside else "")
               + f"; this run {r.seconds / 60:.1f} min ({r.cpu_seconds / 60:.1f} min CPU)")
    _show_check(c)


def _suggest_model(catalog_location, store, model, faces, sources, class_map, classes, tta, method, no_cache,
                   as_json) -> None:
    from training.suggest import suggest

    with open_for_command(catalog_location, store) as cat:
        with progress(desc="decoding faces", unit="face") as bar:
            c = suggest(cat, model, faces, tuple(sources) or None, parse_class_map(class_map), tta, method,
                        use_cache=not no_cache, bar=bar, say=lambda s: click.echo(s, err=True),
                        classes=parse_names(classes))
    if as_json:
        print_json(c.as_dict())
        return
    click.echo(f"model {c.model_id} ({c.model_name}): {c.stored:,} predictions stored "
               f"({c.in_sample:,} in-sample: the model trained on them or their duplicates) in {c.seconds:.0f} s")
    _show_check(c)


def _show_check(c) -> None:
    if not c.checked:
        click.echo("no out-of-sample face with a label to check: nothing flagged")
        return
    click.echo(f"checked {c.checked:,} out-of-sample labeled faces: the model agrees with {c.accuracy:.1%} of the labels "
               f"(macro-F1 {c.macro_f1:.3f})")
    click.echo(f"confident learning ({METHOD_NAMES[c.method]}): {c.issues:,} faces flagged as likely mislabeled "
               f"(the calibrated joint estimates {c.estimated_errors:,} wrong labels)")
    if c.near_chance():
        click.echo(f"warning: that is hardly better than always answering the most common label "
                   f"({c.majority_share:.1%} of these faces): the flags are mostly the model's own errors; "
                   "train longer (--epochs) or on more faces before reviewing them", err=True)
    if c.issues:
        click.echo(f"next: `train issues {c.model_id} --top 20`, or `label --model {c.model_id} --order self_confidence` "
                   "with the filter \"Flagged by confident learning\"")
