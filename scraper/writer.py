"""Commit download outcomes into the catalog, in batches.

The order makes a kill at any moment safe: the complete, valid file is renamed into the blob store
(atomic), then its image row and every URL's outcome are committed in one transaction. A kill can
leave a blob with no row (fetched again and reused next run), never a row pointing at nothing.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

from db.catalog import Catalog
from db.types import DownloadRecord, DownloadStatus, NewImage

from scraper.download import Fetched
from scraper.engines.base import Result


@dataclass(frozen=True)
class Item:
    """One collected result and its place in the result list."""

    result: Result
    rank: int
    page_url: str | None  # the result's own page, else the search page it was found on


class CatalogWriter:
    def __init__(self, catalog: Catalog, source_id: int, *, query: str, suggested_label: str | None,
                 batch: int = 64, max_wait: float = 1.0):
        self.catalog = catalog
        self.source_id = source_id
        self.query = query
        self.suggested_label = suggested_label
        self.batch, self.max_wait = batch, max_wait
        self.outcomes: Counter[str] = Counter()
        self._pending: list[tuple[Item, Fetched]] = []
        self._last_flush = time.monotonic()

    def add(self, item: Item, fetched: Fetched) -> None:
        self._pending.append((item, fetched))
        if len(self._pending) >= self.batch or time.monotonic() - self._last_flush > self.max_wait:
            self.flush()

    def flush(self) -> None:
        pending, self._pending, self._last_flush = self._pending, [], time.monotonic()
        if not pending:
            return
        outcomes = []
        for item, f in pending:
            image = None
            if f.status == DownloadStatus.OK:
                image = NewImage(
                    sha256=f.sha256,
                    blob_path=f.blob_path or self.catalog.blobs.put_file(f.temp_path, f.sha256, f.format),
                    width=f.width, height=f.height, format=f.format, source_id=self.source_id,
                    url=item.result.url, page_url=item.page_url, title=item.result.title, query=self.query,
                    rank=item.rank, fetched_at=f.fetched_at, http_status=f.http_status,
                    content_type=f.content_type, suggested_label=self.suggested_label,
                )
            outcomes.append((DownloadRecord(
                source_id=self.source_id, url=item.result.url, status=f.status, page_url=item.page_url,
                query=self.query, rank=item.rank, http_status=f.http_status, content_type=f.content_type,
                detail=f.detail,
            ), image))
        # Image rows and URL outcomes in one transaction: a kill leaves both or neither.
        for record in self.catalog.add_downloads(outcomes):
            self.outcomes[record.status.value] += 1
