"""`curate dedupe`: group exact and near-duplicate faces, report them, flag conflicting labels."""
from __future__ import annotations

import click

from curation.dedupe import DEFAULT_THRESHOLD, DedupeReport, DuplicateGroup, dedupe
from db.cli import catalog_options, open_for_command, print_json, progress, user_errors
from db.types import FaceFilter

SOURCE_LINES = 10  # source combinations listed in the conflict summary


@click.command(
    "dedupe",
    epilog="""\b
Examples:
  curate dedupe                          # group duplicates, list the conflicting ones first
  curate dedupe --threshold 0            # only identical pixels or identical perceptual hashes
  curate dedupe --dry-run --limit 0      # list every group, store nothing
  curate dedupe --json | jq '.duplicate_groups[] | select(.conflict)'
"""
)
@catalog_options
@click.option("--threshold", type=click.IntRange(0, 16), default=DEFAULT_THRESHOLD, show_default=True,
              help="Largest Hamming distance between two 64-bit perceptual hashes that counts as a near duplicate.")
@click.option("--dry-run", is_flag=True, help="Report the groups without storing them on the faces.")
@click.option("--limit", type=click.IntRange(0), default=20, show_default=True,
              help="Groups to list in the text report (conflicting ones first); 0 lists all.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and every group as one JSON object.")
@user_errors
def dedupe_command(catalog_location: str | None, store: str | None, threshold: int, dry_run: bool,
                   limit: int, as_json: bool) -> None:
    """Find exact (same pixels) and near (similar perceptual hash) duplicate faces across all sources.

    Duplicates are grouped and each face's group is stored (see `dup_group` in the labeler); nothing
    is deleted. Exports and training splits keep a group inside one split. A group whose faces carry
    different labels is flagged as a conflict. Deleted faces are left out. Running it again replaces
    the earlier groups. The report starts with the counts and which sources the conflicting groups
    come from, then lists groups, conflicting ones first.
    """
    with open_for_command(catalog_location, store) as cat:
        with progress(total=cat.count_faces(FaceFilter()), desc="reading faces", unit="face") as bar:
            report = dedupe(cat, threshold=threshold, store=not dry_run, progress=bar)
    if as_json:
        print_json({**report.as_dict(), "stored": not dry_run})
        return
    _print_report(report, limit, stored=not dry_run)


def _print_report(report: DedupeReport, limit: int, stored: bool) -> None:
    s = report.summary()
    click.echo(
        f"{s['faces']} faces compared (threshold {s['threshold']}): {s['groups']} duplicate groups "
        f"({s['exact_groups']} exact, {s['near_groups']} near) holding {s['faces_in_groups']} faces"
    )
    click.echo(f"{_groups(s['conflicting_groups'])} with conflicting labels, "
               f"{s['cross_split_groups']} across split hints")
    by_sources = s["conflicts_by_sources"]
    if by_sources:  # where the conflicts are, before any list of groups
        click.echo("conflicting groups by source:")
        for row in by_sources[:SOURCE_LINES]:
            click.echo(f"  {' + '.join(row['sources'])}: {_groups(row['groups'])}")
        if len(by_sources) > SOURCE_LINES:
            click.echo(f"  ... {len(by_sources) - SOURCE_LINES} more combinations of sources (--json lists all)")
    ordered = sorted(report.groups, key=lambda g: (not g.conflict, g.id))
    shown = ordered if limit == 0 else ordered[:limit]
    if shown:
        click.echo("groups, conflicting first:" if by_sources else "groups:")
    for g in shown:
        click.echo(_group_line(g))
    if len(shown) < len(ordered):
        click.echo(f"... {len(ordered) - len(shown)} more (--limit 0 lists all, --json gives every detail)")
    click.echo("groups stored on the faces" if stored else "dry run: nothing stored")


def _groups(n: int) -> str:
    return f"{n} {'group' if n == 1 else 'groups'}"


def _group_line(g: DuplicateGroup) -> str:
    flag = "CONFLICT " if g.conflict else ""
    labels = ", ".join(f"{k} x{n}" for k, n in g.labels.items()) or "unlabeled"
    where = "; ".join(
        f"{f.id} {f.source_name}:{f.dataset_path or f.url or '?'}" + (f" [{f.split_hint}]" if f.split_hint else "")
        for f in g.faces
    )
    return f"  {flag}group {g.id} ({'exact' if g.exact else 'near'}, {len(g.faces)} faces: {labels}): {where}"
