"""`curate stats --plot balance.png`: the class balance of each source, as a picture.

One row per source that has faces (and one for all sources together), stacked by class: faces on
the left, shares on the right, so a source that is all "happy" stands out at a glance. Labeled
faces are solid bars; unlabeled faces (a scrape's, before review) are drawn hatched and paler in
the colour of their suggested label, and grey when they have no suggestion. Deleted faces are left
out. Matplotlib's Agg backend draws without any display.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
from matplotlib.patches import Patch  # noqa: E402

from db.catalog import Catalog  # noqa: E402
from db.types import FaceFilter  # noqa: E402

SUFFIXES = (".png", ".svg", ".pdf")
ALL = "all sources"
NAME_WIDTH = 40  # longer source names (scrape queries) are shortened with an ellipsis
NO_SUGGESTION_COLOR = "#9e9e9e"
SUGGESTED_ALPHA = 0.4  # unlabeled faces: their suggested label's colour, paler and hatched
SUGGESTED_HATCH = "///"


@dataclass
class Balance:
    """Faces (not deleted) per source: labeled ones by label, unlabeled ones by suggested label."""

    labeled: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> label -> faces
    suggested: dict[str, dict[str, int]] = field(default_factory=dict)  # source -> suggestion -> unlabeled faces
    no_suggestion: dict[str, int] = field(default_factory=dict)  # source -> unlabeled faces without a suggestion

    @property
    def sources(self) -> list[str]:
        return sorted(set(self.labeled) | set(self.suggested) | set(self.no_suggestion))

    def total(self, source: str) -> int:
        return (sum(self.labeled.get(source, {}).values()) + sum(self.suggested.get(source, {}).values())
                + self.no_suggestion.get(source, 0))


def class_balance(catalog: Catalog) -> Balance:
    """The faces of every source, labeled and unlabeled (see Balance)."""
    labeled: dict[str, Counter] = defaultdict(Counter)
    suggested: dict[str, Counter] = defaultdict(Counter)
    no_suggestion: Counter = Counter()
    for face in catalog.iter_faces(FaceFilter(), batch=5000):
        if face.label is not None:
            labeled[face.source_name][face.label] += 1
        elif face.suggested_label is not None:
            suggested[face.source_name][face.suggested_label] += 1
        else:
            no_suggestion[face.source_name] += 1
    return Balance({s: dict(c) for s, c in sorted(labeled.items())},
                   {s: dict(c) for s, c in sorted(suggested.items())}, dict(sorted(no_suggestion.items())))


def _short(name: str) -> str:
    return name if len(name) <= NAME_WIDTH else name[: NAME_WIDTH - 1] + "…"


def _with_all(balance: Balance) -> tuple[list[str], Balance]:
    """The rows to draw (all sources together first, when there are several) and their counts."""
    rows = balance.sources
    if len(rows) < 2:
        return rows, balance
    every = Balance()
    for part, into in ((balance.labeled, every.labeled), (balance.suggested, every.suggested)):
        total = Counter()
        for counts in part.values():
            total.update(counts)
        into.update({ALL: dict(total)} if total else {})
        into.update(part)
    n = sum(balance.no_suggestion.values())
    every.no_suggestion.update({ALL: n} if n else {})
    every.no_suggestion.update(balance.no_suggestion)
    return [ALL, *rows], every


def plot_class_balance(balance: Balance, classes: list[str], path: Path) -> None:
    """Draw `balance` (see class_balance) to an image file; the format follows the suffix (.png, .svg, .pdf)."""
    rows, data = _with_all(balance)
    seen = {k for part in (data.labeled, data.suggested) for c in part.values() for k in c}
    labels = list(classes) + sorted(seen - set(classes))
    fig, (ax_n, ax_p) = plt.subplots(1, 2, sharey=True, figsize=(13, 2.6 + 0.45 * max(len(rows), 1)),
                                     layout="constrained")
    colors = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
    y = list(range(len(rows)))
    left_n = [0.0] * len(rows)
    left_p = [0.0] * len(rows)
    totals = [max(data.total(r), 1) for r in rows]

    def stack(counts: list[int], **style) -> None:
        share = [100 * n / t for n, t in zip(counts, totals)]
        ax_n.barh(y, counts, left=left_n, **style)
        ax_p.barh(y, share, left=left_p, **style)
        left_n[:] = [a + b for a, b in zip(left_n, counts)]
        left_p[:] = [a + b for a, b in zip(left_p, share)]

    for i, label in enumerate(labels):  # labeled faces: solid, in class order
        stack([data.labeled.get(r, {}).get(label, 0) for r in rows], color=colors(i))
    for i, label in enumerate(labels):  # unlabeled faces by suggestion: the same colours, paler and hatched
        stack([data.suggested.get(r, {}).get(label, 0) for r in rows], color=colors(i), alpha=SUGGESTED_ALPHA,
              hatch=SUGGESTED_HATCH, edgecolor=colors(i), linewidth=0)
    stack([data.no_suggestion.get(r, 0) for r in rows], color=NO_SUGGESTION_COLOR, alpha=SUGGESTED_ALPHA,
          hatch=SUGGESTED_HATCH, edgecolor=NO_SUGGESTION_COLOR, linewidth=0)
    for j, r in enumerate(rows):
        unlabeled = sum(data.suggested.get(r, {}).values()) + data.no_suggestion.get(r, 0)
        note = f" ({unlabeled:,} unlabeled)" if unlabeled else ""
        ax_n.text(left_n[j], j, f" {int(left_n[j]):,}{note}", va="center", fontsize=8)
    ax_n.set_yticks(y, [_short(r) for r in rows])
    ax_n.invert_yaxis()
    ax_n.set_xlabel("faces (solid: labeled; hatched: unlabeled, by suggested label)")
    ax_n.set_xlim(0, max(left_n + [1]) * 1.3)
    ax_p.set_xlabel("share of the source's faces (%)")
    ax_p.set_xlim(0, 100)
    for ax in (ax_n, ax_p):
        ax.grid(axis="x", alpha=0.3)
        ax.set_axisbelow(True)
    if not rows:
        ax_n.text(0.5, 0.5, "no faces yet", transform=ax_n.transAxes, ha="center", va="center")
    fig.suptitle("Class balance per source")
    handles = [Patch(color=colors(i), label=label) for i, label in enumerate(labels)]
    if data.no_suggestion:  # (what hatching means is said under the left chart)
        handles.append(Patch(facecolor=NO_SUGGESTION_COLOR, alpha=SUGGESTED_ALPHA, hatch=SUGGESTED_HATCH,
                             edgecolor=NO_SUGGESTION_COLOR, label="unlabeled, no suggestion"))
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 10), frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)
