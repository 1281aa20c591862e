"""What the filter bar selects, as plain data: one choice per dimension, combined with AND, and an
order. It becomes a db ReviewFilter (the catalog runs it in SQL); no Qt here."""
from __future__ import annotations

from dataclasses import dataclass, replace

from db.types import Duplicates, Order, ReviewFilter, Status

NONE = ""  # in a label / suggestion / split choice: faces without one

# The status choices, in the order the filter bar lists them: value, what it shows.
STATUS_CHOICES = [
    ("unreviewed", "Unreviewed (the queue)"),
    ("active", "All but deleted"),
    ("confirmed", "Confirmed"),
    ("uncertain", "Uncertain"),
    ("deleted", "Deleted"),
    ("everything", "Everything"),
    ("no_face", "Images with no face found"),
]
ORDER_CHOICES = [
    (Order.CATALOG, "Catalog order"),
    (Order.LEAST_CONFIDENCE, "Least model confidence first"),
    (Order.SELF_CONFIDENCE, "Likely mislabeled first (self-confidence)"),
    (Order.MARGIN, "Likely mislabeled first (normalized margin)"),
    (Order.DUPLICATES, "Duplicate groups together"),
]
DUPLICATE_CHOICES = [(None, "Any"), (Duplicates.GROUPED, "In a duplicate group"),
                     (Duplicates.CONFLICT, "In a group with conflicting labels")]
MODEL_CHOICES = [(None, "Any"), ("disagrees", "Model disagrees with the label"),
                 ("flagged", "Flagged by confident learning")]
MODEL_ORDERS = (Order.LEAST_CONFIDENCE, Order.SELF_CONFIDENCE, Order.MARGIN)


@dataclass(frozen=True)
class FilterSpec:
    """One choice per dimension (None: any). Strings, so QSettings and a manifest note can hold it."""

    status: str = "unreviewed"
    label: str | None = None  # a class, NONE (no label yet), or None
    suggested: str | None = None
    source: str | None = None
    query: str | None = None
    split: str | None = None
    duplicates: Duplicates | None = None
    model: str | None = None  # "disagrees", "flagged" or None
    order: Order = Order.CATALOG

    @property
    def images(self) -> bool:
        """The list holds images where no face was found, not faces."""
        return self.status == "no_face"

    @property
    def needs_model(self) -> bool:
        return self.model is not None or Order(self.order) in MODEL_ORDERS

    @property
    def includes_unreviewed(self) -> bool:
        return self.status in ("unreviewed", "active", "everything")

    def statuses(self) -> tuple[str, ...] | None:
        if self.status == "active":
            return None
        if self.status == "everything":
            return tuple(s.value for s in Status)
        return (Status(self.status).value,)

    def review_filter(self, model_id: int | None, holder: str | None) -> ReviewFilter:
        """The catalog filter; `holder` (this app's claim id) keeps others' claimed faces out of the
        unreviewed queue."""
        def one(value):
            return None if value is None else ((None,) if value == NONE else (value,))

        return ReviewFilter(
            statuses=self.statuses(), labels=one(self.label), suggested=one(self.suggested),
            sources=None if self.source is None else (self.source,),
            queries=None if self.query is None else (self.query,),
            split_hints=one(self.split), duplicates=self.duplicates, model_id=model_id,
            model_disagrees=self.model == "disagrees", model_flagged=self.model == "flagged",
            # The queue leaves out what others claim; browsing views show every face (marked).
            skip_claimed_by_others=holder if self.status == "unreviewed" else None,
        )

    def without_model(self) -> "FilterSpec":
        """The same filter with nothing that needs a model (when the catalog has no predictions)."""
        return replace(self, model=None, order=Order.CATALOG if Order(self.order) in MODEL_ORDERS else self.order)

    def describe(self) -> str:
        """A short text for people: 'unreviewed, label happy, source fer2013, likely mislabeled first'."""
        status = dict(STATUS_CHOICES)[self.status].split(" (")[0].lower()
        parts = [status]
        for name, value in (("label", self.label), ("suggested", self.suggested), ("source", self.source),
                            ("query", self.query), ("split", self.split)):
            if value is not None:
                parts.append(f"{name} {value if value != NONE else 'none'}")
        if self.duplicates is not None:
            parts.append(dict(DUPLICATE_CHOICES)[self.duplicates].lower())
        if self.model is not None:
            parts.append(dict(MODEL_CHOICES)[self.model].lower())
        if Order(self.order) is not Order.CATALOG:
            parts.append(dict(ORDER_CHOICES)[Order(self.order)].lower())
        return ", ".join(parts)
