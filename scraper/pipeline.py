"""One query from collected results to catalog rows: skip URLs tried before, download the rest
(here, or in Ray tasks on a cluster), commit them. The command (cli.py) runs it for each query; tests call it directly."""
from __future__ import annotations

from collections import Counter
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

from db.blobs import BlobStore
from db.catalog import Catalog
from db.executor import RayCluster, chunks
from db.types import DownloadStatus, NewSource

from scraper.download import Downloader, Fetched, Limits, interleave_by_host
from scraper.writer import CatalogWriter, Item

RAY_BATCH = 32  # most URLs per Ray task


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


def download_batch(urls: Sequence[tuple[str, str | None]], store: BlobStore, limits: Limits,
                   concurrency: int) -> list[Fetched]:
    """A Ray task: download and validate a batch of (url, referer) on a worker node and put each valid
    image into the blob store; the outcomes go back to the driver, which commits them."""
    out = []
    with Downloader(store.temp_dir(), concurrency=concurrency, limits=limits) as dl:
        with closing(dl.fetch_all([u for u, _ in urls], dict(urls))) as results:
            for f in results:
                if f.temp_path is not None:
                    f = replace(f, blob_path=store.put_file(f.temp_path, f.sha256, f.format), temp_path=None)
                out.append(f)
    return out


def _crashed(job: tuple[str, str | None]) -> Fetched:
    return Fetched(job[0], DownloadStatus.NETWORK_ERROR, detail="worker crashed")


def fetch_into_catalog(catalog: Catalog, items: list[Item], report: QueryReport, downloader: Downloader,
                       on_done: Callable[[], None] = lambda: None, cluster: RayCluster | None = None) -> QueryReport:
    """Download the items no earlier run tried and commit each outcome; fills report's counts. With
    a cluster the downloads run in Ray tasks (downloader's limits and concurrency on each worker,
    its per-host limit shared out among the cluster's CPUs)."""
    tried = catalog.tried_urls([it.result.url for it in items])
    todo = {it.result.url: it for it in items if it.result.url not in tried}
    report.already_tried = len(items) - len(todo)
    writer = CatalogWriter(catalog, report.source_id, query=report.query, suggested_label=report.label)
    # Only the image's own page is sent as Referer: a search engine's would look like hotlinking.
    referers = {u: it.result.page_url for u, it in todo.items()}
    try:
        if cluster is not None:
            jobs = [(u, referers[u]) for u in interleave_by_host(todo)]
            lim = downloader.limits
            limits = replace(lim, per_host=max(1, lim.per_host // max(1, cluster.cpus())))
            for _, results in cluster.map(download_batch, chunks(jobs, cluster.batch_size(len(jobs), RAY_BATCH)),
                                          (catalog.blobs, limits, downloader.concurrency), crashed=_crashed):
                for fetched in results:
                    writer.add(todo[fetched.url], fetched)
                    on_done()
        else:
            # closing: a stop (Ctrl-C, SIGTERM) ends the downloads now, not when the generator is collected.
            with closing(downloader.fetch_all(todo, referers)) as results:
                for fetched in results:
                    writer.add(todo[fetched.url], fetched)
                    on_done()
    finally:
        writer.flush()  # an interrupted run still commits what completed
    report.outcomes = dict(sorted(Counter(writer.outcomes).items()))
    return report
