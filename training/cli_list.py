"""`train list`: the catalog's models, newest first."""
from __future__ import annotations

import click

from db.cli import catalog_options, open_for_command, print_json, user_errors


def _pct(metrics: dict, split: str) -> str:
    # A cross-validation's figure is its out-of-fold accuracy, shown as its validation accuracy.
    acc = (metrics.get(split) or (metrics.get("out_of_fold") if split == "val" else None) or {}).get("accuracy")
    return f"{acc:.1%}" if isinstance(acc, (int, float)) else "-"


@click.command(
    "list",
    epilog="""\b
Examples:
  train list
  train list --catalog ~/faces --json | jq '.[0].metrics'
""",
)
@click.version_option(package_name="facecat")
@catalog_options
@click.option("--json", "as_json", is_flag=True, help="Print the models as JSON.")
@user_errors
def list_command(catalog_location, store, as_json) -> None:
    """List the catalog's trained models: data, metrics and date."""
    with open_for_command(catalog_location, store) as cat:
        models = cat.models()
    if as_json:
        print_json([{"id": m.id, "name": m.name, "path": m.path, "kind": m.kind, "classes": m.classes,
                     "params": m.params, "metrics": m.metrics, "created_at": m.created_at} for m in models])
        return
    if not models:
        click.echo("no models yet: train one with `train fit --out models/NAME`")
        return
    click.echo(f"{'id':>4}  {'name':<20} {'arch':<11} {'classes':>7} {'train':>7} {'val acc':>8} {'test acc':>8}  "
               f"{'created':<16}  data; path")
    for m in models:
        sel = m.params.get("selection", {})
        train = sum((sel.get("counts", {}).get("train") or {}).values())
        data = f"{sel.get('status', '?')}, split {sel.get('split', '?')}, " \
               f"sources {', '.join(sel.get('sources') or []) or 'all'}"
        click.echo(f"{m.id:>4}  {m.name[:20]:<20} {str(m.params.get('arch', '-'))[:11]:<11} {len(m.classes):>7} "
                   f"{train:>7,} {_pct(m.metrics, 'val'):>8} {_pct(m.metrics, 'test'):>8}  "
                   f"{m.created_at:%Y-%m-%d %H:%M}  {data}; {m.path}")
