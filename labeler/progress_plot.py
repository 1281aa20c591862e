"""The statistics window's pictures, drawn with matplotlib (Agg) to PNG bytes: the class balance per
source (curate stats --plot's own picture) and the review progress per annotator over time. No Qt."""
from __future__ import annotations

import io
from collections import defaultdict
from datetime import date
from typing import Sequence

from curation.plot import class_balance, plot_class_balance  # also selects the Agg backend
import matplotlib.pyplot as plt  # noqa: E402

from db.types import ReviewProgress  # noqa: E402


def class_balance_png(catalog) -> bytes:
    buf = io.BytesIO()
    plot_class_balance(class_balance(catalog), catalog.class_names(), buf)
    return buf.getvalue()


def progress_png(progress: Sequence[ReviewProgress]) -> bytes:
    """Decisions per annotator: per day (bars) and in total so far (lines)."""
    by_person: dict[str, dict[date, int]] = defaultdict(dict)
    for p in progress:
        by_person[p.annotator][date.fromisoformat(p.day)] = p.decisions
    days = sorted({d for per in by_person.values() for d in per})
    fig, (ax_day, ax_total) = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
    if not days:
        for ax in (ax_day, ax_total):
            ax.text(0.5, 0.5, "no decisions yet", transform=ax.transAxes, ha="center", va="center")
            ax.set_xticks([])
            ax.set_yticks([])
    else:
        people = sorted(by_person, key=lambda a: -sum(by_person[a].values()))
        width = 0.8 / len(people)
        colors = plt.get_cmap("tab10")
        for i, person in enumerate(people):
            per = by_person[person]
            xs = list(range(len(days)))
            ys = [per.get(d, 0) for d in days]
            ax_day.bar([x + i * width - 0.4 + width / 2 for x in xs], ys, width, label=person, color=colors(i % 10))
            total, running = 0, []
            for y in ys:
                total += y
                running.append(total)
            ax_total.plot(xs, running, marker="o", label=f"{person} ({total:,})", color=colors(i % 10))
        labels = [d.strftime("%b %d") for d in days]
        step = max(1, len(days) // 10)
        for ax in (ax_day, ax_total):
            ax.set_xticks(list(range(0, len(days), step)), labels[::step])
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
        ax_day.set_ylabel("decisions that day")
        ax_total.set_ylabel("decisions so far")
        ax_total.legend(frameon=False, fontsize=9)
    fig.suptitle("Review progress per annotator (from the audit)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
