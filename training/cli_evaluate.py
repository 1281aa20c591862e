"""`train evaluate MODEL`: accuracy, macro-F1, per-class precision and recall, confusion matrix."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import click
import numpy as np

from db.cli import catalog_options, print_json, user_errors
from training import metrics, plots
from training.cli_common import LazyCatalog, echo_note, gather, input_options, load_ensemble
from training.ensemble import seen_in_training
from training.faces_in import check_classes
from training.inference import TTA_MODES

ERRORS_SHOWN = 32


def plot_path(ctx, param, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in plots.SUFFIXES:
        raise click.BadParameter(f"{value}: name a {', '.join(plots.SUFFIXES)} file")
    return value


@click.command(
    "evaluate",
    epilog="""\b
Examples:
  train evaluate models/fer                        # the test split of the model's own selection
  train evaluate models/fer --split val --tta --plot confusion.png --plot-errors errors.png
  train evaluate models/fer --csv fer2013.csv --usage PrivateTest
  train evaluate models/fer --folders ../shared/data/fer2013/test
  train evaluate models/fer --folders jaffe-by-class --crop detect --map contempt= --json
  train evaluate models/s0 models/s1 models/s2 --folders ../shared/data/fer2013/test   # an ensemble
""",
)
@click.version_option(package_name="facecat")
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@catalog_options
@input_options
@click.option("--tta", "tta", is_flag=False, flag_value="flip", default="none", type=click.Choice(TTA_MODES),
              metavar="[flip|flip+shifts]", help="Average over the face and its mirror (--tta), or also shifted copies.")
@click.option("--plot", "plot", type=click.Path(dir_okay=False, path_type=Path), callback=plot_path, metavar="FILE",
              help="Draw the confusion matrix to FILE (.png, .svg, .pdf).")
@click.option("--plot-errors", "plot_errors", type=click.Path(dir_okay=False, path_type=Path), callback=plot_path,
              metavar="FILE", help=f"Draw the {ERRORS_SHOWN} most confident mistakes, each with its label and the prediction.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_errors
def evaluate_command(models, catalog_location, store, split, sources, csv_path, usage, folders, crop, class_map,
                     tta, plot, plot_errors, as_json) -> None:
    """Score MODEL (a model directory, or a name or id from `train list`) on labeled faces; several
    MODELs are scored as one ensemble (their probabilities averaged).

    Classes are matched by name: a class of the data that the model lacks is an error, unless
    --map renames or drops it. Faces the model trained on are counted and said (the figure is then
    optimistic). --split uses the first model's selection.
    """
    with ExitStack() as stack:
        cat = LazyCatalog(catalog_location, store, stack)
        ens = load_ensemble(models, cat)
        card = ens.cards[0]
        faces, note = gather(cat, card, split, sources, csv_path, usage, folders, crop, class_map)
    echo_note(note)
    check_classes(faces, card)
    seen = seen_in_training(faces, ens)
    if seen.any():
        echo_note(f"{int(seen.sum()):,} of these {len(faces):,} faces were in the model's training split: "
                  "the figures below are optimistic")
    pixels = faces.pixels(card.input_size)
    probs = ens.probabilities(lambda m: faces.pixels(m.card.input_size), tta)
    index = {k: i for i, k in enumerate(ens.classes)}
    y_true = np.array([index[k] for k in faces.labels])
    y_pred = probs.argmax(axis=1)
    s = metrics.scores(ens.classes, y_true, y_pred)
    title = f"{ens.name} on {faces.description}" + (f", TTA {tta}" if tta != "none" else "")
    if plot:
        plots.confusion(s.confusion, ens.classes, plot, f"{title}\naccuracy {s.accuracy:.1%}, macro-F1 {s.macro_f1:.3f}")
    if plot_errors:
        wrong = np.flatnonzero(y_pred != y_true)
        order = wrong[np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")][:ERRORS_SHOWN]
        plots.errors(pixels[order], [faces.labels[i] for i in order], [ens.classes[y_pred[i]] for i in order],
                     [float(probs[i, y_pred[i]]) for i in order], plot_errors,
                     f"{ens.name}: the {len(order)} most confident mistakes of {len(wrong):,} on {faces.description}")
    if as_json:
        print_json({"model": str(ens.cards[0].path) if ens.single else ens.name,
                    **({} if ens.single else {"models": [str(c.path) for c in ens.cards]}), "input": faces.description, "tta": tta,
                    "seen_in_training": int(seen.sum()), "skipped": faces.skipped, **s.as_dict()})
        return
    click.echo(f"{title}: {s.n:,} faces, accuracy {s.accuracy:.1%}, macro-F1 {s.macro_f1:.3f}")
    if faces.skipped:
        click.echo(f"({len(faces.skipped)} images left out: no face or unreadable)")
    click.echo()
    click.echo(metrics.report_text(s), nl=False)
    click.echo()
    click.echo(confusion_text(s))
    for path, what in ((plot, "confusion matrix"), (plot_errors, "mistakes")):
        if path:
            click.echo(f"{what} drawn to {path}", err=True)


def confusion_text(s: metrics.Scores) -> str:
    corner = "true \\ said"
    width = max([len(k) for k in s.classes] + [len(corner)])
    col = max(6, max(len(k) for k in s.classes))
    head = f"{corner:<{width}}  " + " ".join(f"{k[:col]:>{col}}" for k in s.classes)
    rows = [f"{k:<{width}}  " + " ".join(f"{int(v):>{col}}" for v in s.confusion[i]) for i, k in enumerate(s.classes)]
    return "\n".join([head] + rows)
