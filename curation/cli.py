"""`curate`: the catalog's own commands (init, stats) and the curation stage's.

Each subcommand lives in its own module and is registered here.
"""
from __future__ import annotations

from pathlib import Path

import click

from db.cli import catalog_options, open_for_command, print_json, user_errors


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="""\b
Examples:
  curate init --catalog ~/faces
  curate stats --catalog ~/faces --json
  FACECAT_CATALOG=postgresql+psycopg://me@db/faces FACECAT_STORE=/srv/blobs curate stats
""",
)
@click.version_option(package_name="facecat")
def main() -> None:
    """Curate a facial-expression catalog: create it, inspect it, fill and export it."""


@main.command(
    epilog="""\b
Examples:
  curate init                           # ./catalog
  curate init --catalog ~/faces
  curate init --catalog postgresql+psycopg://me@dbhost/faces --store /srv/faces-blobs
"""
)
@catalog_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@user_errors
def init(catalog_location: str | None, store: str | None, as_json: bool) -> None:
    """Create a catalog (a directory, or a database URL plus a blob directory).

    Running it on an existing catalog changes nothing (an older schema is upgraded).
    """
    with open_for_command(catalog_location, store, create=True) as cat:
        info = {"catalog": cat.display, "store": str(cat.blobs), "classes": cat.class_names()}
    if as_json:
        print_json(info)
    else:
        click.echo(f"catalog ready: {info['catalog']} (blobs in {info['store']})")
        click.echo(f"classes: {', '.join(info['classes'])}")


@main.command(
    epilog="""\b
Examples:
  curate stats
  curate stats --catalog ~/faces --json | jq .by_label
  curate stats --plot balance.png      # class balance per source, as a chart
"""
)
@catalog_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (keys: images, faces, by_status, by_label, by_source, ...).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also draw the class balance per source to FILE (.png, .svg or .pdf): labeled faces "
                   "solid, unlabeled ones hatched by suggested label.")
@user_errors
def stats(catalog_location: str | None, store: str | None, as_json: bool, plot_path: Path | None) -> None:
    """Count images and faces by status, label, source, split and download outcome."""
    if plot_path is not None:
        from curation import plot  # matplotlib only when asked

        if plot_path.suffix.lower() not in plot.SUFFIXES:
            raise click.BadParameter(f"{plot_path}: name a {', '.join(plot.SUFFIXES)} file", param_hint="--plot")
    with open_for_command(catalog_location, store) as cat:
        s = cat.stats()
        if plot_path is not None:
            balance = plot.class_balance(cat)
            plot.plot_class_balance(balance, cat.class_names(), plot_path)
            click.echo(f"class balance drawn to {plot_path}", err=True)
            faceless = sorted({src.name for src in cat.sources()} - set(balance.sources))
            if faceless:
                shown = ", ".join(faceless[:5]) + (f" and {len(faceless) - 5} more" if len(faceless) > 5 else "")
                click.echo(f"not in the chart: {len(faceless)} {'source has' if len(faceless) == 1 else 'sources have'} "
                           f"no faces (not extracted yet, none found, or all deleted): {shown}", err=True)
    if as_json:
        print_json(s)
        return
    click.echo(f"catalog {s['catalog']}: {s['sources']} sources, {s['images']} images, {s['faces']} faces")
    for key in ("by_status", "by_label", "by_source", "by_split", "by_extraction", "by_download"):
        if s[key]:
            title = key.removeprefix("by_").replace("_", " ")
            width = max(len(k) for k in s[key])
            click.echo(f"\n{title}:")
            for name, count in s[key].items():
                click.echo(f"  {name:<{width}}  {count:>8}")
    if s["duplicate_groups"]:
        click.echo(f"\nduplicate groups: {s['duplicate_groups']}")


from curation.cli_dedupe import dedupe_command  # noqa: E402  (subcommands register after the group)

main.add_command(dedupe_command)
from curation.cli_extract import extract  # noqa: E402
from curation.cli_import import import_  # noqa: E402

main.add_command(extract)
main.add_command(import_)

from curation.cli_export import export_command  # noqa: E402

main.add_command(export_command)

from curation.cli_classes import classes_command  # noqa: E402

main.add_command(classes_command)
