"""One query from collected results to catalog rows: skip URLs tried before, download the rest,
commit them. The command (cli.py) runs it for each query; tests call it directly."""
from __future__ import annotations

from collections import Counter
from contextlib import closing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from db.catalog import Catalog
from db.types import NewSource

from scraper.download import Downloader
from scraper.writer import CatalogWriter, Item


@dataclass
class QueryReport:
    """What happened to one query; the command prints it (or its JSON)."""

    query: str
    engine: str
    label: str | None
    page_url: str
    found: int = 0
    already_tried: int = 0  # skipped: an earlier run tried these URLs
    outcomes: dict[str, int] = field(default_factory=dict)
    source_id: int | None = None
    debug_dir: Path | None = None
    hint: str | None = None  # why a page gave nothing, or why paging stopped early
    error: str | None = None  # the query failed (its page did not load): why

    def as_dict(self) -> dict:
        d = asdict(self)
        d["debug_dir"] = str(self.debug_dir) if self.debug_dir else None
        return d


def add_scrape_source(catalog: Catalog, report: QueryReport, params: dict) -> int:
    return catalog.add_source(NewSource(
        kind="scrape", name=f"{report.engine}: {report.query}", engine=report.engine, query=report.query,
        path=report.page_url, params=params,
    ))


def fetch_into_catalog(catalog: Catalog, items: list[Item], report: QueryReport, downloader: Downloader,
                       on_done: Callable[[], None] = lambda: None) -> QueryReport:
    """Download the items no earlier run tried and commit each outcome; fills report's counts."""
    tried = catalog.tried_urls([it.result.url for it in items])
    todo = {it.result.url: it for it in items if it.result.url not in tried}
    report.already_tried = len(items) - len(todo)
    writer = CatalogWriter(catalog, report.source_id, query=report.query, suggested_label=report.label)
    try:
        # closing: a stop (Ctrl-C, SIGTERM) ends the downloads now, not when the generator is collected.
        # Only the image's own page is sent as Referer: a search engine's would look like hotlinking.
        with closing(downloader.fetch_all(todo, {u: it.result.page_url for u, it in todo.items()})) as results:
            for fetched in results:
                writer.add(todo[fetched.url], fetched)
                on_done()
    finally:
        writer.flush()  # an interrupted run still commits what completed
    report.outcomes = dict(sorted(Counter(writer.outcomes).items()))
    return report
