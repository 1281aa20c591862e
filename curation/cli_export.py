"""`curate export OUT`: a curated selection as image folders, a FER2013-style CSV or a .npz."""
from __future__ import annotations

from pathlib import Path

import click

from curation.export import FORMATS, export
from curation.cli_issues import check_exclude_issues, exclude_issues_options, excluding_issues
from curation.selection import STATUSES, SelectionSpec, parse_class_map, parse_names
from curation.split import SPLITS
from db.cli import (
    INTERRUPTED_NOTHING_WRITTEN, catalog_options, on_interrupt, open_for_command, print_json, progress, user_errors,
)


@click.command(
    "export",
    epilog="""\b
Examples:
  curate export out/faces                                  # folders, labeled faces, 80/10/10, seed 0
  curate export out/fer.csv.d --format csv --split keep    # FER2013 layout at 48x48, Usage kept
  curate export out/npz --format npz --status confirmed --classes happy,sad,neutral
  curate export out/merged --map disgust=angry,contempt= --source fer2013 --source "bing: sad face"
  curate export out/faces --split 70/15/15 --seed 1 --size 64 --force
  curate export out/clean --exclude-issues                 # without the faces `train suggest` flagged
\b
OUT/manifest.json lists the filters, classes, counts per split and class, every face's provenance
and a hash of the catalog state exported. Folders: OUT/{train,val,test}/<class>/<face id>.png
(Keras image_dataset_from_directory, torchvision ImageFolder). csv: OUT/fer2013.csv. npz:
OUT/faces.npz with X, y, split, classes, face_ids.
""",
)
@click.argument("out", type=click.Path(path_type=Path))
@catalog_options
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="folders", show_default=True,
              help="Output layout.")
@click.option("--status", type=click.Choice(STATUSES), default="labeled", show_default=True,
              help="labeled: has a label and is not deleted; confirmed: reviewed and kept.")
@click.option("--classes", metavar="A,B,...", help="Keep only these classes (names after --map), in this order.")
@click.option("--map", "class_map", metavar="OLD=NEW,...", help="Rename classes (disgust=angry) or drop them (contempt=).")
@click.option("--source", "sources", multiple=True, metavar="NAME", help="Only faces from this source (repeatable).")
@click.option("--split", default="80/10/10", show_default=True, metavar="T/V/T|keep",
              help="Train/val/test proportions, scaled to add up to 100% (stratified by class; duplicate "
                   "groups stay in one split), "
                   "or keep: the faces' split hints (FER2013 Usage); faces without a hint go to train.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split.")
@click.option("--size", type=click.IntRange(8, 1024), default=None,
              help="Side of the exported faces in pixels [default: 48 for csv, else the crops' size].")
@exclude_issues_options
@click.option("--force", is_flag=True, help="Replace OUT if it is an earlier export (or an empty folder); anything else is refused.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
@on_interrupt(INTERRUPTED_NOTHING_WRITTEN)
def export_command(out: Path, catalog_location: str | None, store: str | None, fmt: str, status: str,
                   classes: str | None, class_map: str | None, sources: tuple[str, ...], split: str, seed: int,
                   size: int | None, exclude_issues: bool, issues_model_ref: str | None, force: bool,
                   as_json: bool) -> None:
    """Export labeled faces to OUT, split into train/val/test, with a manifest.

    The export is built in a temporary directory beside OUT and renamed into place when complete:
    a failure leaves no OUT behind. OUT may not be, hold or lie inside the catalog or its blob
    store. The same catalog and options give the same split and a
    byte-identical manifest.json.
    """
    check_exclude_issues(exclude_issues, issues_model_ref)
    spec = SelectionSpec(status=status, classes=parse_names(classes), class_map=parse_class_map(class_map),
                         sources=tuple(sources) or None, split=split, seed=seed)
    with open_for_command(catalog_location, store) as cat:
        spec, flagger = excluding_issues(cat, spec, exclude_issues, issues_model_ref)
        with progress(desc="exporting", unit="face") as bar:
            result = export(cat, out, fmt, spec, size=size, force=force, progress=bar)
    if as_json:
        print_json({"path": str(result.path), "format": result.format, "size": result.size,
                    "classes": result.classes, "counts": result.counts,
                    "manifest_sha256": result.manifest_sha256, "export_id": result.export_id,
                    **({"excluded_issues": result.excluded_issues, "issues_model_id": flagger.id} if flagger else {})})
        return
    c = result.counts
    click.echo(f"exported {c['faces']} faces ({result.size}x{result.size}, {result.format}) to {result.path}")
    if flagger is not None:
        click.echo(f"  left out {result.excluded_issues} face(s) that model {flagger.id} ({flagger.name}) flagged "
                   "and nobody has confirmed since")
    width = max(len(k) for k in result.classes)
    click.echo(f"  {'class':<{width}}  " + "  ".join(f"{s:>6}" for s in SPLITS))
    for k in result.classes:
        click.echo(f"  {k:<{width}}  " + "  ".join(f"{c[s][k]:>6}" for s in SPLITS))
    click.echo(f"manifest sha256 {result.manifest_sha256}")
