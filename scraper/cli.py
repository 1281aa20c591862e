"""`scrape`: collect images for queries with a real browser, with provenance, into the catalog."""
from __future__ import annotations

import signal
import threading
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import click
import requests
from selenium.common.exceptions import WebDriverException

from db.catalog import DEFAULT_CLASSES
from db.cli import (
    INTERRUPTED_KEPT, UserError, catalog_options, on_interrupt, open_for_command, open_or_create_for_command, print_json,
    progress, user_errors,
)
from db.executor import ExecutorSpec, connect, executor_option
from db.location import resolve

from scraper.browser import BrowserNotFound, start_browser
from scraper.collect import ERROR_PAGE, Collected, Pace, PageError, collect, why_page_failed
from scraper.download import USER_AGENT, Downloader, Limits, clean_temp_dir
from scraper.engines import ENGINES, get_engine
from scraper.labels import infer_label
from scraper.pipeline import QueryReport, add_scrape_source, fetch_into_catalog
from scraper.static import collect_gallery, collect_pages
from scraper.view import build_view, folder_name, folder_names
from scraper.writer import Item

EPILOG = """\b
Examples:
  scrape "angry human face" --limit 200
  scrape "fearful face" "scared person" --engine duckduckgo --catalog ~/faces
  scrape --queries queries.txt --label sad --concurrency 32 --per-host 8
  scrape "smiling person" --dry-run --json          # list the links, download nothing
  scrape "angry face" --engine bing --base-url http://127.0.0.1:8000   # a local mirror
  scrape --from-page https://example.org/gallery.html "happy people"
  scrape --view ./browse                             # browse/angry_human_face/0001_<sha8>.jpg ...
  scrape --queries queries.txt --executor ray:10.0.0.5:6379 --store s3://faces/blobs   # downloads on Ray
"""


def _check_base_url(_ctx, _param, value: str | None) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path.strip("/"):
        raise click.BadParameter("give scheme, host and port only, e.g. http://127.0.0.1:8000")
    return value


def _read_queries(query: tuple[str, ...], queries_file) -> list[str]:
    queries = [q.strip() for q in query if q.strip()]
    if queries_file is not None:
        queries += [ln.strip() for ln in queries_file if ln.strip() and not ln.lstrip().startswith("#")]
    return list(dict.fromkeys(queries))


class _Browser:
    """Started on first use and shared by every query of the run."""

    def __init__(self, headful: bool):
        self.headful, self.driver = headful, None

    def get(self):
        if self.driver is None:
            try:
                self.driver = start_browser(self.headful)
            except WebDriverException as exc:
                first = (exc.msg or str(exc)).strip().splitlines()[0]
                raise UserError(f"cannot start Chromium through Selenium: {first}") from None
            except BrowserNotFound as exc:
                raise UserError(str(exc)) from None
        return self.driver

    def quit(self) -> None:
        """Stop Chromium and its driver; the next get() starts a fresh one."""
        driver, self.driver = self.driver, None
        if driver is None:
            return
        try:
            driver.quit()
        except Exception as exc:  # noqa: BLE001 (a crashed browser must not stop the rest of the cleanup)
            click.echo(f"warning: Chromium did not stop cleanly: {type(exc).__name__}: {exc}".strip(), err=True)


@contextmanager
def _sigterm_exits() -> Iterator[None]:
    """SIGTERM raises SystemExit, so every finally runs: Chromium and chromedriver are stopped,
    downloads in flight removed, the catalog closed. (By default SIGTERM ends Python at once.)"""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def handler(signum, _frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _print_report(r: QueryReport, dry_run: bool, folder: str) -> None:
    head = f'[{r.engine}] "{r.query}": {r.found} found'
    if r.error:
        click.echo(f'[{r.engine}] "{r.query}": failed: {r.error}', err=True)
        return
    if r.found == 0:
        causes = "" if (r.hint or "").startswith(ERROR_PAGE) else " Likely causes: layout changed, consent page, captcha."
        click.echo(f"{head}. No results: {r.hint}.{causes}", err=True)
        if r.debug_dir:
            click.echo(f"  page saved for a bug report: {r.debug_dir}", err=True)
        return
    if r.hint:  # results were found, but paging stopped early
        click.echo(f'[{r.engine}] "{r.query}": note: {r.hint}', err=True)
    if dry_run:
        click.echo(head)
        return
    fetched = sum(r.outcomes.values())
    detail = ", ".join(f"{k} {v}" for k, v in r.outcomes.items()) or "nothing new"
    click.echo(f"{head}, {r.already_tried} already tried, {fetched} fetched: {detail}")
    click.echo(f"  suggested label: {r.label or 'none'}; folder view: {folder}/ (scrape --view DIR)")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@click.argument("query", nargs=-1)
@click.option("--queries", "queries_file", type=click.File("r"), help="A file of queries, one a line (# comments).")
@click.option("--engine", type=click.Choice(sorted(ENGINES)), default="bing", show_default=True)
@click.option("--limit", type=click.IntRange(min=1), help="Stop collecting at N results per query.")
@click.option("--label", help="Suggested label for the images (default: inferred from the query).")
@click.option("--concurrency", type=click.IntRange(1, 256), default=16, show_default=True, help="Parallel downloads.")
@click.option("--per-host", type=click.IntRange(1, 256), default=4, show_default=True,
              help="Parallel downloads from any one host (raise it for a mirror or a CDN you may hammer).")
@click.option("--headful", is_flag=True, help="Show the browser window.")
@click.option("--base-url", callback=_check_base_url, metavar="URL",
              help="Use a mirror of the engine: only scheme, host and port change.")
@click.option("--from-page", metavar="URL", help="Collect the images of this gallery page (no browser).")
@click.option("--no-browser", is_flag=True, help="Page through result pages without a browser (engines that allow it: "
              + ", ".join(sorted(n for n, e in ENGINES.items() if not e.needs_browser)) + ").")
@click.option("--dry-run", is_flag=True, help="Collect and print the links; download nothing.")
@click.option("--view", "view_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Instead of scraping, write a browsable folder per query (all when none given) under DIR.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=60, show_default=True, help="Seconds allowed per image.")
@click.option("--settle", type=click.FloatRange(min=0.1), default=3.0, hidden=True,
              help="Seconds to wait for a page to grow after a scroll or click (tests shorten it).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@executor_option
@catalog_options
@click.version_option(package_name="facecat")
@user_errors
@on_interrupt(INTERRUPTED_KEPT)
def main(query, queries_file, engine, limit, label, concurrency, per_host, headful, base_url, from_page, no_browser,
         dry_run, view_dir, timeout, settle, as_json, executor: ExecutorSpec, catalog_location, store) -> None:
    """Search images for each QUERY with a real browser and add them to the catalog, with provenance.

    The catalog is created if there is none yet (a line on stderr says so). Re-running a query
    resumes: URLs tried before are skipped, and an image already in the catalog (same bytes) is
    recorded as a duplicate of it. Every URL's outcome shows in `curate stats`. A query whose page
    fails is reported and the others go on; the exit status is then 1. A page with no results is
    saved under the catalog's store, in scrape-debug/ (with --dry-run too). With --executor ray the
    browser stays here and the downloads run on a Ray cluster (--concurrency threads per worker).
    """
    queries = _read_queries(query, queries_file)
    if view_dir is not None:
        with open_for_command(catalog_location, store) as cat:
            built = build_view(cat, view_dir, queries or None)
        if as_json:
            print_json({q: {"folder": str(folder), "images": n} for q, (folder, n) in built.items()})
        else:
            for folder, n in built.values():
                click.echo(f"{folder}/: {n} images")
            if not built:
                click.echo("no scraped queries")
        return
    if from_page and not queries:
        queries = [from_page]
    if not queries:
        raise click.UsageError("give at least one QUERY (or --queries FILE, --from-page URL)")
    eng = get_engine(engine)
    if no_browser and eng.needs_browser:
        raise click.UsageError(f"--no-browser: {engine} result pages need a browser")

    reports, links = [], {}
    with _sigterm_exits(), ExitStack() as cleanup:
        # Each in its own callback: one that fails (a crashed Chromium) does not skip the others.
        # The cluster first: one that cannot be reached must leave no catalog behind.
        cluster = None if dry_run else connect(executor)
        if cluster:
            cleanup.callback(cluster.close)
        cat = None if dry_run else open_or_create_for_command(catalog_location, store)
        if cat:
            cleanup.callback(cat.close)
        classes = cat.class_names() if cat else [c[0] for c in DEFAULT_CLASSES]
        if label is not None and label not in classes:
            raise UserError(f"unknown class {label!r}; classes: {', '.join(classes)}")
        # Where a page with no results is saved: the catalog's store, also for a dry run (which
        # opens no catalog; its location is enough).
        # (Blobs in object storage: the catalog directory, else the working directory, holds them.)
        loc = cat.location if cat else resolve(catalog_location, store)
        debug_root = (loc.store_root or loc.directory or Path.cwd()) / "scrape-debug"
        session = cleanup.enter_context(requests.Session())
        session.headers["User-Agent"] = USER_AGENT
        downloader = None
        if cat:
            clean_temp_dir(cat.blobs.temp_dir())
            downloader = cleanup.enter_context(Downloader(
                cat.blobs.temp_dir(), concurrency=concurrency, limits=Limits(total_timeout=timeout, per_host=per_host)))
        browser = _Browser(headful)
        cleanup.callback(browser.quit)
        for q in queries:
            kind = "page" if from_page else engine
            q_label = label or infer_label(q, classes)
            try:
                if from_page:
                    got = collect_gallery(session, from_page, limit=limit, debug_root=debug_root)
                elif no_browser:
                    got = collect_pages(session, eng, q, limit=limit, base_url=base_url, debug_root=debug_root)
                else:
                    got = collect(browser.get(), eng, q, limit=limit, base_url=base_url, debug_root=debug_root,
                                  pace=Pace(settle=settle))
            except (PageError, WebDriverException) as exc:
                # This query failed (a page that does not load, a browser that died); the others go on.
                if isinstance(exc, WebDriverException):
                    browser.quit()  # a stuck or crashed browser is not reused
                page_url = from_page or eng.search_url(q, base_url)
                error = str(exc) if isinstance(exc, PageError) else f"cannot open {page_url}: {why_page_failed(exc, page_url)}"
                reports.append(QueryReport(query=q, engine=kind, label=q_label, page_url=page_url, error=error))
                links[q] = []
                if not as_json:
                    _print_report(reports[-1], dry_run, "")
                continue
            report = _report_for(q, kind, q_label, got)
            items = [Item(r, rank, r.page_url or got.page_url) for rank, r in enumerate(got.results, 1)]
            if cat and items:
                report.source_id = add_scrape_source(cat, report, {"limit": limit, "base_url": base_url})
                with progress(total=len(items), desc=q[:30], unit="img") as bar:
                    def done(bar=bar) -> None:
                        bar.update()
                        if cluster:
                            bar.set_postfix(workers=cluster.workers_in_use(), refresh=False)

                    fetch_into_catalog(cat, items, report, downloader, on_done=done, cluster=cluster)
            links[q] = [{"rank": it.rank, "url": it.result.url, "page_url": it.page_url, "title": it.result.title}
                        for it in items]
            reports.append(report)
            if not as_json:
                _print_report(report, dry_run, folder_names(cat, [q])[q] if cat else folder_name(q))
                if dry_run:
                    for it in items:
                        click.echo(f"  {it.rank:4d}  {it.result.url}  (page: {it.page_url})")
    _finish(reports, links, dry_run, as_json)


def _report_for(query: str, engine: str, label: str | None, got: Collected) -> QueryReport:
    return QueryReport(query=query, engine=engine, label=label, page_url=got.page_url, found=len(got.results),
                       debug_dir=got.debug_dir, hint=got.hint)


def _finish(reports: list[QueryReport], links: dict, dry_run: bool, as_json: bool) -> None:
    totals: dict[str, int] = {}
    for r in reports:
        for k, v in r.outcomes.items():
            totals[k] = totals.get(k, 0) + v
    summary = {"queries": [r.as_dict() for r in reports], "found": sum(r.found for r in reports), "outcomes": totals}
    if dry_run:
        for q in summary["queries"]:
            q["results"] = links[q["query"]]
    if as_json:
        print_json(summary)
    elif not dry_run:
        detail = ", ".join(f"{k} {v}" for k, v in sorted(totals.items())) or "nothing fetched"
        click.echo(f"total: {len(reports)} {'query' if len(reports) == 1 else 'queries'}, {summary['found']} found; {detail}")
    failed = [r.query for r in reports if r.error]
    empty = [r.query for r in reports if r.found == 0 and not r.error]
    problems = ([f"{len(failed)} of {len(reports)} queries failed: {', '.join(failed)}"] if failed else []) + (
        [f"no results for {len(empty)} of {len(reports)} queries: {', '.join(empty)}"] if empty else [])
    if problems:
        raise UserError("; ".join(problems))
