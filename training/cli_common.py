"""What several `train` subcommands share: MODEL resolution through the catalog, the input options
of evaluate and compare, the recipe options of fit and suggest --cross-val, and the catalog opened
only when it is needed."""
from __future__ import annotations

import functools
from contextlib import ExitStack
from pathlib import Path

import click

from curation.selection import parse_class_map
from db.cli import open_for_command, progress
from training import archs, faces_in, modelio
from training.errors import TrainingError
from training.schedule import OPTIMIZERS, SCHEDULES
from training.tfenv import PRECISIONS

# The recipe options, by parameter name: FitConfig's keyword arguments of the same names.
RECIPE_OPTIONS = ("input_size", "arch", "epochs", "batch", "lr", "optimizer", "schedule", "weight_decay",
                  "class_weights", "precision")


class LazyCatalog:
    """Opens the catalog on first use (a model directory and a CSV need none)."""

    def __init__(self, location: str | None, store: str | None, stack: ExitStack):
        self.location, self.store, self.stack, self._cat = location, store, stack, None

    def get(self):
        if self._cat is None:
            self._cat = self.stack.enter_context(open_for_command(self.location, self.store))
        return self._cat

    def lookup(self, model: str) -> str | None:
        """The catalog's path for a model name or id (MODEL that is no directory)."""
        try:
            cat = self.get()
        except click.ClickException:
            return None
        info = cat.get_model(int(model) if model.isdigit() else model)
        return info.path if info is not None else None


def load_model(model: str, catalog: LazyCatalog):
    return modelio.load(model, catalog.lookup)


def load_ensemble(models, catalog: LazyCatalog):
    """MODEL... (each a directory, a name or id from `train list`, or several joined with '+') as one
    ensemble; a single model is an ensemble of one."""
    from training import ensemble

    return ensemble.load(models, catalog.lookup)


def input_options(func):
    """--split, --source, --csv, --usage, --folders, --crop, --map: which faces to score."""
    for opt in reversed([
        click.option("--split", type=click.Choice(["test", "val"]), default=None,
                     help="A split of the model's own catalog selection [default: test, when no --csv or --folders]."),
        click.option("--source", "sources", multiple=True, metavar="NAME",
                     help="With --split: only faces from this source (repeatable)."),
        click.option("--csv", "csv_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                     metavar="FILE", help="A FER2013-format CSV (emotion, pixels, Usage)."),
        click.option("--usage", metavar="NAME", help="With --csv: only rows of this Usage (PublicTest, PrivateTest)."),
        click.option("--folders", type=click.Path(exists=True, file_okay=False, path_type=Path), metavar="DIR",
                     help="A class-folder tree, DIR/<class>/*.png."),
        click.option("--crop", type=click.Choice(faces_in.CROPS), default="none", show_default=True,
                     help="With --folders: none: the files are faces; detect: photos, faces found and aligned by curation's extractor."),
        click.option("--map", "class_map", metavar="OLD=NEW,...",
                     help="Rename the data's classes (anger=angry) or drop them (contempt=) before matching the model's."),
    ]):
        func = opt(func)
    return func


def recipe_options(prefix: str = "", epochs_default: str = "the architecture's recipe"):
    """--input-size, --arch, --epochs, --batch, --lr, --optimizer, --schedule, --weight-decay,
    --class-weights, --precision: how a model trains, for `train fit` and for the fold models of
    `train suggest --cross-val` alike (one definition: the same names, types and defaults). The
    command gets them as one `recipe` argument, a dict of FitConfig's keyword arguments."""
    def helped(text: str) -> str:
        return prefix + text[0].lower() + text[1:] if prefix else text

    options = [
        click.option("--input-size", type=click.Choice(["48", "100"]), default="48", show_default=True,
                     help=helped("Side of the faces the network sees (48: FER2013's size, fast; 100: the catalog's crops).")),
        click.option("--arch", default=archs.DEFAULT_ARCH, show_default=True, metavar="NAME",
                     help=helped("Architecture; `train fit --arch list` lists them.")),
        click.option("--epochs", type=click.IntRange(1, 10_000), default=None, help=helped(f"Epochs [default: {epochs_default}].")),
        click.option("--batch", type=click.IntRange(1, 4096), default=None, help=helped("Batch size [default: the recipe's].")),
        click.option("--lr", type=click.FloatRange(0, 10, min_open=True), default=None,
                     help=helped("Peak learning rate [default: the recipe's].")),
        click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None,
                     help=helped("Optimizer [default: the recipe's; rmsprop for the CPU default].")),
        click.option("--schedule", type=click.Choice(SCHEDULES), default=None,
                     help=helped("Cosine: warm-up then cosine decay; plateau: ReduceLROnPlateau [default: the recipe's].")),
        click.option("--weight-decay", type=click.FloatRange(0, 100), default=None, metavar="WD",
                     help=helped("Decoupled weight decay on the kernels, each step w -= lr*WD*w; 0: none [default: "
                                 "the recipe's; 0.5 for the CPU default].")),
        click.option("--class-weights/--no-class-weights", "class_weights", default=False, show_default=True,
                     help=helped("Weight each class by n/(K*count) in the loss. Off by default: on FER2013 they cost 3 "
                                 "points of accuracy and gained no macro-F1 (BENCHMARKS.md).")),
        click.option("--precision", type=click.Choice(PRECISIONS), default="auto", show_default=True,
                     help=helped("Auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with bf16 instructions, else float32.")),
    ]

    def decorate(func):
        @functools.wraps(func)
        def with_recipe(*args, **kwargs):
            recipe = {name: kwargs.pop(name) for name in RECIPE_OPTIONS}
            recipe["input_size"] = int(recipe["input_size"])
            return func(*args, recipe=recipe, **kwargs)

        for opt in reversed(options):
            with_recipe = opt(with_recipe)
        return with_recipe

    return decorate


def gather(catalog: LazyCatalog, card: modelio.ModelCard, split, sources, csv_path, usage, folders, crop, class_map):
    """The FaceSet these options name, mapped; and a note for the user, if any."""
    given = [n for n, v in (("--split", split), ("--csv", csv_path), ("--folders", folders)) if v]
    if len(given) > 1:
        raise click.UsageError(f"give one of --split, --csv, --folders (not {' and '.join(given)})")
    if usage and not csv_path:
        raise click.UsageError("--usage goes with --csv")
    if sources and (csv_path or folders):
        raise click.UsageError("--source goes with --split (the catalog)")
    mapping = parse_class_map(class_map)
    note = None
    if csv_path:
        faces = faces_in.from_csv(csv_path, usage)
    elif folders:
        from curation.faces import ExtractSettings

        settings = ExtractSettings(**card.data.get("preprocessing", {}).get("extract", {}))
        with progress(desc="reading faces", unit="img") as bar:
            faces = faces_in.from_folders(folders, crop, settings, bar)
    else:
        with progress(desc="decoding faces", unit="face") as bar:
            faces, note = faces_in.from_catalog(catalog.get(), card, split or "test", tuple(sources) or None, bar)
    faces = faces.mapped(mapping)
    if not len(faces):
        raise TrainingError(f"no faces left in {faces.description} after --map")
    return faces, note


def echo_note(text: str | None) -> None:
    if text:
        click.echo(f"note: {text}", err=True)
