"""`label`: the desktop labeling app (Qt). The catalog is opened, and every problem with it reported
as one line, before any window appears."""
from __future__ import annotations

import os
import sys

import click

from db.cli import UserError, catalog_options, open_for_command, user_errors
from db.types import Order
from labeler.filters import MODEL_ORDERS, ORDER_CHOICES, STATUS_CHOICES, FilterSpec

EPILOG = """\b
Examples:
  label                                         # ./catalog (or $FACECAT_CATALOG), the unreviewed queue
  label --catalog ~/faces --annotator alice
  label --status active --order duplicates      # every face but deleted ones, duplicate groups together
  label --order self_confidence --model 3       # likely mislabeled first, by model 3's predictions
  FACECAT_STORE=/srv/blobs label --catalog postgresql+psycopg://alice@dbhost/faces
\b
In the window: a class key (1-7 by default, see `curate classes`) labels the selected faces and
confirms them, Enter confirms a suggestion, Delete deletes, U marks uncertain, Ctrl+Z undoes;
? or F1 lists every key. Every decision is written at once; there is no Save.
"""


def _check_display() -> None:
    """Qt aborts the process when it cannot reach a display: say it in one line instead."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform.startswith("linux") and not platform and not os.environ.get("DISPLAY") \
            and not os.environ.get("WAYLAND_DISPLAY"):
        raise UserError("no display to open a window on (DISPLAY is not set): run it in a desktop session, "
                        "under xvfb-run, or with QT_QPA_PLATFORM=offscreen")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@catalog_options
@click.option("--annotator", metavar="NAME", default=None,
              help="Your name in every decision's audit entry (default: the one remembered, else your OS user name).")
@click.option("--status", "status", type=click.Choice([s for s, _ in STATUS_CHOICES]), default="unreviewed",
              show_default=True, help="The faces to start with (active: all but deleted; no_face: images where "
                                      "no face was found).")
@click.option("--order", "order", type=click.Choice([o.value for o, _ in ORDER_CHOICES]), default="catalog",
              show_default=True, help="Their order; the model orders need stored predictions.")
@click.option("--model", "model", metavar="ID|NAME|DIR", default=None,
              help="The model whose predictions are shown (default: the newest with predictions).")
@click.version_option(package_name="facecat")
@user_errors
def main(catalog_location: str | None, store: str | None, annotator: str | None, status: str, order: str,
         model: str | None) -> None:
    """Review and label the catalog's faces from the keyboard, in a grid.

    Thumbnails of the current filter (Ctrl+F: status, label, suggestion, source, query, split,
    duplicates, model disagreement; ordered by catalog order, least model confidence, likely
    mislabeled or duplicate groups), the current face's details beside them, and every change
    written to the catalog at once, version-checked: a face someone else changed meanwhile is
    shown as a conflict, never overwritten. Several people can work one catalog (PostgreSQL, or
    one SQLite directory): each app claims the unreviewed faces it shows, so two people on the
    unreviewed queue never get the same faces.
    """
    _check_display()
    spec = FilterSpec(status=status, order=Order(order))
    cat = open_for_command(catalog_location, store)
    try:
        if Order(order) in MODEL_ORDERS and not cat.models_with_predictions() and model is None:
            raise UserError(f"--order {order} needs model predictions, and {cat.display} has none yet")
        if model is not None and cat.get_model(model) is None:
            raise UserError(f"no model {model!r} in {cat.display}")
        from labeler.app import run  # Qt only once the catalog is known to be fine

        code = run(cat, annotator, spec, model)
    finally:
        cat.close()
    sys.exit(code)
