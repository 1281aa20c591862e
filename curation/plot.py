"""`curate stats --plot balance.png`: the class balance of each source, as a picture.

One row per source (and one for all sources together), stacked by class: faces on the left, shares
on the right, so a source that is all "happy" stands out at a glance. Matplotlib's Agg backend draws
without any display.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)

from db.catalog import Catalog  # noqa: E402
from db.types import SELECTION_LABELED, FaceFilter  # noqa: E402

SUFFIXES = (".png", ".svg", ".pdf")
ALL = "all sources"
NAME_WIDTH = 40  # longer source names (scrape queries) are shortened with an ellipsis


def class_balance(catalog: Catalog) -> dict[str, dict[str, int]]:
    """Labeled (not deleted) faces per source and class: {source: {class: count}}."""
    counts: dict[str, Counter] = defaultdict(Counter)
    for face in catalog.iter_faces(FaceFilter(selection=SELECTION_LABELED), batch=5000):
        counts[face.source_name][face.label] += 1
    return {source: dict(c) for source, c in sorted(counts.items())}


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def plot_class_balance(balance: dict[str, dict[str, int]], classes: list[str], path: Path) -> None:
    """Draw `balance` (see class_balance) to an image file; the format follows the suffix (.png, .svg, .pdf)."""
    labels = list(classes) + sorted({k for c in balance.values() for k in c} - set(classes))
    total = Counter()
    for c in balance.values():
        total.update(c)
    rows = ([ALL] if len(balance) > 1 else []) + list(balance)
    data = {ALL: dict(total), **balance}
    fig, (ax_n, ax_p) = plt.subplots(1, 2, sharey=True, figsize=(13, 2.2 + 0.45 * max(len(rows), 1)),
                                     layout="constrained")
    colors = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    y = range(len(rows))
    left_n = [0.0] * len(rows)
    left_p = [0.0] * len(rows)
    for i, label in enumerate(labels):
        n = [data[r].get(label, 0) for r in rows]
        share = [100 * v / max(sum(data[r].values()), 1) for v, r in zip(n, rows)]
        ax_n.barh(y, n, left=left_n, color=colors(i), label=label)
        ax_p.barh(y, share, left=left_p, color=colors(i))
        left_n = [a + b for a, b in zip(left_n, n)]
        left_p = [a + b for a, b in zip(left_p, share)]
    for j, r in enumerate(rows):
        ax_n.text(left_n[j], j, f" {int(left_n[j]):,}", va="center", fontsize=8)
    ax_n.set_yticks(list(y), [_short(r) for r in rows])
    ax_n.invert_yaxis()
    ax_n.set_xlabel("labeled faces")
    ax_n.set_xlim(0, max(left_n + [1]) * 1.15)
    ax_p.set_xlabel("share of the source's faces (%)")
    ax_p.set_xlim(0, 100)
    for ax in (ax_n, ax_p):
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    if not rows:
        ax_n.text(0.5, 0.5, "no labeled faces yet", transform=ax_n.transAxes, ha="center", va="center")
    fig.suptitle("Class balance per source")
    if labels:
        fig.legend(loc="outside lower center", ncol=min(len(labels), 8), frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)
