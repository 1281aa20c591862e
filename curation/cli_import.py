"""`curate import KIND PATH`: a dataset into the catalog, as a source with its images and faces."""
from __future__ import annotations

import os
from pathlib import Path

import click

from curation.cli_extract import extract_with_progress
from curation.faces import ExtractSettings
from curation.importers import KINDS
from curation.importers.common import DatasetError, ImportSummary, describe_left_out, run_import, text_path
from curation.pool import WorkersCannotStart
from curation.selection import SelectionError, parse_class_map
from db.cli import (
    INTERRUPTED_KEPT, UserError, catalog_options, on_interrupt, open_or_create_for_command, print_json, progress,
    user_errors,
)
from db.executor import ExecutorSpec, connect, executor_option
from db.types import NewSource


@click.command(
    "import",
    epilog="""\b
Examples:
  curate import fer2013 ../shared/data/fer2013          # train/ test/ class folders
  curate import fer2013 fer2013.csv --size 48          # the Kaggle CSV, kept at 48x48
  curate import jaffe ../shared/data/jaffe --json
  curate import folders CK+48 --crop none --map anger=angry,sadness=sad,contempt= --name ck+
  curate import unlabeled mmi-frames/ --name mmi
  curate import folders /nfs/affectnet --crop detect --executor ray:10.0.0.5:6379 \\
      --catalog postgresql+psycopg://me@db/faces --store s3://faces/blobs   # on a Ray cluster
""",
)
@catalog_options
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--name", default=None, help="Source name (default: the kind, or the folder's name for folders/unlabeled).")
@click.option("--map", "map_text", metavar="NAME=CLASS,...", default=None,
              help="Rename dataset classes (anger=angry) or drop them (contempt=).")
@click.option("--crop", type=click.Choice(["detect", "none"]), default=None,
              help="detect: find and align faces in each picture; none: pictures are faces already "
                   "(default: none for fer2013, detect otherwise).")
@click.option("--size", type=click.IntRange(16, 1024), default=100, show_default=True,
              help="Side of the catalog's square grayscale crops.")
@click.option("--license", "license_note", default=None, help="License note kept with the source.")
@click.option("--workers", type=click.IntRange(1, None), default=None,
              help="Processes (default: every core; with --executor ray, the cluster's CPUs).")
@executor_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary (added, skipped, failed with reasons).")
@user_errors
@on_interrupt(INTERRUPTED_KEPT)
def import_(catalog_location, store, kind, path, name, map_text, crop, size, license_note, workers,
            executor: ExecutorSpec, as_json) -> None:
    """Import a dataset of KIND from PATH: fer2013 (CSV or folders), folders (one per class), jaffe, unlabeled.

    Labeled datasets give faces with their label set and status unreviewed. Importing the same
    dataset again adds nothing. Originals go into the catalog's blob store, so every face keeps its
    provenance (the dataset path). The catalog is created if there is none yet (a line on stderr
    says so). Files that are not images are left out and listed; an import where every file
    fails adds nothing and exits 1. With --executor ray the pictures are read, stored and
    detected on a Ray cluster: PATH must be visible at the same path on every node.
    """
    module = KINDS[kind]
    crop = crop or module.DEFAULT_CROP
    name = name or (text_path(path.resolve().name) if kind in ("folders", "unlabeled") else kind)
    workers = workers or os.cpu_count() or 1
    cluster = None
    try:
        mapping = parse_class_map(map_text)
        if mapping and kind == "unlabeled":
            raise DatasetError("--map does not apply to unlabeled datasets")
        cluster = connect(executor)  # before the catalog: a cluster that cannot be reached changes nothing
        with open_or_create_for_command(catalog_location, store) as cat:
            listing = module.items(path, mapping, cat.class_names())
            items = listing.items
            if not items:  # before the source is made: a typo'd path must not leave an empty source
                raise DatasetError(f"{path}: nothing to import ({'no rows' if path.is_file() else 'no images'}"
                                   + (", or --map drops every class" if mapping else "")
                                   + (f"; {describe_left_out(listing.left_out)}" if listing.left_out else "") + ")")
            source = NewSource(kind="dataset", name=name, path=text_path(path.resolve()),
                               license_note=license_note or module.LICENSE,
                               params={"importer": kind, "crop": crop, "size": size, "map": mapping})
            with progress(total=len(items), desc=f"import {name}", unit="img") as bar:
                summary = run_import(cat, source, items, crop, size, workers, on_progress=bar.update,
                                     cluster=cluster)
            summary.left_out = listing.left_out
            if len(summary.failed) == summary.files:
                _print_summary(summary, as_json)
                n = summary.files
                new = cat.find_source(source.kind, source.name) is None  # run_import adds none for failures only
                raise UserError(("the one file" if n == 1 else f"all {n} files") + " failed: nothing was imported"
                                + (" and no source was added" if new else ""))
            if crop == "detect":
                extraction = extract_with_progress(cat, ExtractSettings(size=size), [name], None, False, workers,
                                                   cluster)
                summary.extraction = extraction.as_dict()
                summary.faces_added = extraction.faces
            if summary.images_added or summary.faces_added:
                cat.optimize()  # fresh planner statistics after a bulk load
    except (DatasetError, SelectionError, WorkersCannotStart) as exc:
        raise UserError(str(exc)) from None
    finally:
        if cluster:
            cluster.close()
    _print_summary(summary, as_json)


def _print_summary(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    click.echo(
        f"{summary.source}: {summary.files} files, {summary.images_added} images and {summary.faces_added} faces added, "
        f"{summary.skipped} already imported, {summary.duplicates} duplicate files, {len(summary.failed)} failed"
        + (f", {len(summary.left_out)} left out" if summary.left_out else "")
    )
    if summary.shared_with_existing:
        click.echo(f"{len(summary.shared_with_existing)} files are the same bytes as an image already in the catalog "
                   "and get no face or label of their own:")
        for where, what in list(summary.shared_with_existing.items())[:20]:
            click.echo(f"  {where}: {what}")
    if summary.extraction:
        e = summary.extraction
        click.echo(f"extraction: {e['images']} images, {e['no_face']} without a face, {e['unreadable']} unreadable")
    for where, reason in list(summary.failed.items())[:20]:
        click.echo(f"  failed {where}: {reason}")
    if len(summary.failed) > 20:
        click.echo(f"  ... {len(summary.failed) - 20} more failed (--json lists every one)")
    for where, reason in list(summary.left_out.items())[:20]:
        click.echo(f"  left out {where}: {reason}")
    if len(summary.left_out) > 20:
        click.echo(f"  ... {len(summary.left_out) - 20} more left out (--json lists every one)")
