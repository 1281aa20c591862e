"""`train issues MODEL_OR_RUN`: the faces a model's (or a cross-validation's) predictions flag as
likely mislabeled, most likely wrong first: what `train suggest` stored, for scripts and people."""
from __future__ import annotations

import click

from db.cli import UserError, catalog_options, open_for_command, print_json, user_errors
from training.confident import DEFAULT_RANKING, RANKINGS
from training.suggest import own_label


def _scores(probabilities: dict[str, float], label: str | None) -> tuple[float | None, float | None]:
    """(self-confidence, normalized margin) of a face's own label; None when the model lacks it."""
    if label is None or label not in probabilities:
        return None, None
    own = probabilities[label]
    other = max((p for k, p in probabilities.items() if k != label), default=0.0)
    return own, (own - other + 1.0) / 2.0


@click.command(
    "issues",
    epilog="""\b
Examples:
  train issues runs/cv5 --top 20                 # a cross-validation's run directory
  train issues 3 --rank margin                   # a model by id (or name; `train list`)
  train issues runs/cv5 --all --json > issues.json
\b
A flagged face that someone confirmed after the prediction was stored is resolved: left out unless
--all (and kept by `curate export --exclude-issues`). Scores read the face's label as it is now.
""",
)
@click.version_option(package_name="facecat")
@click.argument("model", metavar="MODEL_OR_RUN")
@catalog_options
@click.option("--top", type=click.IntRange(1, None), default=None, metavar="N", help="Only the first N.")
@click.option("--rank", type=click.Choice(RANKINGS), default=DEFAULT_RANKING, show_default=True,
              help="self_confidence: the probability of the face's label, lowest first; margin: the normalized "
                   "margin (that probability against the best other class's), lowest first.")
@click.option("--all", "show_all", is_flag=True, help="Also the flagged faces confirmed since the prediction.")
@click.option("--json", "as_json", is_flag=True, help="Print the issues as JSON.")
@user_errors
def issues_command(model, catalog_location, store, top, rank, show_all, as_json) -> None:
    """List the faces MODEL_OR_RUN flagged as likely mislabeled (`train suggest`), most likely wrong first."""
    with open_for_command(catalog_location, store) as cat:
        info = cat.get_model(int(model) if model.isdigit() else model)
        if info is None:
            raise UserError(f"no model or cross-validation {model!r} in {cat.display} (`train list` lists them)")
        flagged = cat.issue_face_ids(info.id)
        unresolved = cat.unresolved_issues(info.id)
        shown = flagged if show_all else [f for f in flagged if f in unresolved]
        preds = cat.predictions(info.id, shown)
        faces = {f.id: f for f in cat.faces_by_ids(shown)}
        has_predictions = bool(flagged) or info.id in {x.id for x in cat.models_with_predictions()}
    rows = []
    for fid in shown:
        f, p = faces.get(fid), preds.get(fid)
        if f is None or p is None:
            continue
        label = own_label(f)
        own, margin = _scores(p.probabilities, label)
        rows.append({"face_id": fid, "label": label, "labeled": f.label is not None, "status": f.status.value,
                     "model_says": p.label, "model_confidence": round(p.confidence, 4),
                     "self_confidence": None if own is None else round(own, 4),
                     "margin": None if margin is None else round(margin, 4),
                     "resolved": fid not in unresolved, "source": f.source_name,
                     "where": f.dataset_path or f.url})
    key = "self_confidence" if rank == "self_confidence" else "margin"
    rows.sort(key=lambda r: (r[key] is None, r[key] if r[key] is not None else 0.0, r["face_id"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    if top is not None:
        rows = rows[:top]
    if as_json:
        print_json({"model_id": info.id, "name": info.name, "kind": info.kind, "flagged": len(flagged),
                    "unresolved": len(unresolved), "rank": rank, "issues": rows})
        return
    if not has_predictions:
        click.echo(f"model {info.id} ({info.name}) has no stored predictions: run `train suggest` first")
        return
    click.echo(f"{info.kind} {info.id} ({info.name}): {len(flagged):,} faces flagged, {len(unresolved):,} not "
               f"confirmed since; ranked by {rank.replace('_', '-')}" + (f", first {len(rows)}" if top else ""))
    if not rows:
        return
    click.echo(f"{'rank':>5} {'face':>7}  {'label':<10} {'status':<10} {'model says':<17} {'p(label)':>8} "
               f"{'margin':>6}  source: where")
    for r in rows:
        said = f"{r['model_says']} {r['model_confidence']:.0%}"
        own = "-" if r["self_confidence"] is None else f"{r['self_confidence']:.3f}"
        margin = "-" if r["margin"] is None else f"{r['margin']:.3f}"
        label = (r["label"] or "-") + ("" if r["labeled"] else "?")
        click.echo(f"{r['rank']:>5} {r['face_id']:>7}  {label:<10} {r['status'] + ('*' if r['resolved'] else ''):<10} "
                   f"{said:<17} {own:>8} {margin:>6}  {r['source']}: {r['where'] or '-'}")
    if any(not r["labeled"] for r in rows):
        click.echo("(label?: a suggested label, not yet a label)")
    if any(r["resolved"] for r in rows):
        click.echo("(status*: confirmed since the prediction)")
