"""The one scroll-and-collect driver, for every engine, in a real browser.

Open the search page, accept a consent page if one is shown, scroll to the end; when scrolling no
longer grows the page, press the engine's "show more results" control; repeat until nothing new
comes or the limit is reached. Then read the results from the page, and from any further result
pages the engine names, fetched by the open page itself as its own script would (its cookies,
Referer and Origin go with them). A page with no results is saved for a bug report.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from scraper.engines.base import Engine, Result, rebase, unique

_STATE_JS = "return [document.documentElement.scrollHeight, document.querySelectorAll(arguments[0]).length];"


@dataclass(frozen=True)
class Pace:
    """How long to wait for a page to react. Tests shorten these."""

    settle: float = 3.0  # after a scroll or a click, how long to wait for the page to grow
    poll: float = 0.1
    max_rounds: int = 200  # scroll / show-more rounds, a guard against pages that grow forever


@dataclass(frozen=True)
class Collected:
    results: list[Result]
    page_url: str  # the search page as opened
    debug_dir: Path | None = None  # where an empty page was saved
    hint: str | None = None  # the likeliest reason a page gave nothing, or why paging stopped early


class PageError(Exception):
    """A result page could not be fetched (one line, for the command's error message)."""


# Fetches a further result page from the open one, as the page's own script would.
_FETCH_JS = """
const done = arguments[arguments.length - 1];
fetch(arguments[0], {credentials: "include"})
  .then(r => r.text().then(body => done([r.status, body])))
  .catch(e => done([0, String(e)]));
"""


def fetch_in_page(driver: WebDriver, url: str) -> str:
    """A further result page's text, fetched by the open page (which is its Referer)."""
    try:
        status, body = driver.execute_async_script(_FETCH_JS, url)
    except TimeoutException:
        raise PageError(f"cannot fetch {url}: no answer in time") from None
    if not status:
        raise PageError(f"cannot fetch {url}: {body}")
    if status >= 400:
        raise PageError(f"cannot fetch {url}: HTTP {status}")
    return body


def follow_pages(engine: Engine, html: str, page_url: str, fetch: Callable[[str, str], str], *,
                 limit: int | None, base_url: str | None) -> tuple[list[Result], str | None]:
    """The results of a first result page and of the further pages the engine names, each fetched
    with fetch(url, referer), until a page brings nothing new or the limit is reached. A further
    page that fails ends the paging: what was found is kept, and the reason returned with it."""
    results = unique(engine.parse(html, page_url))
    queue, seen = [(nxt, page_url) for nxt in engine.next_pages(html, page_url)], {page_url}
    while queue and not (limit and len(results) >= limit):
        named, referer = queue.pop(0)
        page = rebase(named, base_url)
        if page in seen:
            continue
        seen.add(page)
        try:
            body = fetch(page, referer)
        except PageError as exc:
            return results, f"further results stopped: {exc}"
        more = unique(results + engine.parse(body, page))[len(results):]
        if not more:
            break
        results += more
        queue.extend((nxt, page) for nxt in engine.next_pages(body, page))
    return results, None


def _click_first(driver: WebDriver, selectors: tuple[str, ...]) -> bool:
    for css in selectors:
        for el in driver.find_elements(By.CSS_SELECTOR, css):
            try:
                if el.is_displayed() and el.is_enabled():
                    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", el)
                    el.click()
                    return True
            except WebDriverException:  # covered, detached or gone: try the next one
                continue
    return False


def _wait_for_growth(driver: WebDriver, engine: Engine, before: list[int], pace: Pace) -> bool:
    deadline = time.monotonic() + pace.settle
    while time.monotonic() < deadline:
        time.sleep(pace.poll)
        now = driver.execute_script(_STATE_JS, engine.result_css)
        if now[0] > before[0] or now[1] > before[1]:
            return True
    return False


def _scroll_and_more(driver: WebDriver, engine: Engine, limit: int | None, pace: Pace) -> None:
    for _ in range(pace.max_rounds):
        state = driver.execute_script(_STATE_JS, engine.result_css)
        if limit and state[1] >= limit:
            return
        driver.execute_script("window.scrollTo(0, document.documentElement.scrollHeight);")
        if _wait_for_growth(driver, engine, state, pace):
            continue
        if not _click_first(driver, engine.more_css) or not _wait_for_growth(driver, engine, state, pace):
            return  # the page stopped growing and no "show more" brought anything


ERROR_PAGE = "the browser showed an error page"
UNRESOLVED = "the host name does not resolve (no internet connection, or a typo in the URL)"
REFUSED = "connection refused (is the server running on that port?)"
_NET_ERRORS = {
    "ERR_NAME_NOT_RESOLVED": UNRESOLVED,
    "ERR_INTERNET_DISCONNECTED": "no internet connection",
    "ERR_CONNECTION_REFUSED": REFUSED,
    "ERR_CONNECTION_TIMED_OUT": "the connection timed out",
    "ERR_PROXY_CONNECTION_FAILED": "the proxy does not answer",
}


def unsafe_port(url: str | None) -> str:
    """Chromium's ERR_UNSAFE_PORT in words: which port, and what to do."""
    try:
        port = urlsplit(url or "").port
    except ValueError:
        port = None
    which = f"port {port}" if port else "this port"
    return (f"ERR_UNSAFE_PORT: Chromium blocks {which} as unsafe (it belongs to another protocol); "
            "serve the site on another port, e.g. 8000")


def _net_error(code: str, url: str | None) -> str | None:
    return unsafe_port(url) if code == "ERR_UNSAFE_PORT" else _NET_ERRORS.get(code)


def why_page_failed(exc: WebDriverException, url: str | None = None) -> str:
    """A browser's failure to show a page (`url`), in words a user can act on."""
    text = (exc.msg or str(exc) or "").strip()
    if isinstance(exc, TimeoutException):
        return "the page did not finish loading (timed out)"
    if net := re.search(r"net::(ERR_[A-Z_]+)", text):
        return _net_error(net.group(1), url) or f"the browser could not load it ({net.group(1)})"
    if re.search(r"invalid session id|not reachable|session deleted|disconnected", text):
        return "the browser stopped (crashed or was killed)"
    return (text.splitlines() or [type(exc).__name__])[0]


def likely_cause(html: str, url: str | None = None) -> str:
    """Why the page opened at `url` gave no results, as far as its HTML tells."""
    if shown := re.search(r'"errorCode":\s*"(ERR_[A-Z_]+)"', html):  # Chromium's own error page
        code = shown.group(1)
        return f"{ERROR_PAGE}: {_net_error(code, url) or code}"
    text = html.lower()
    if re.search(r"captcha|unusual traffic|are you a robot|verify you are human", text):
        return "a captcha was shown"
    if re.search(r"consent|cookies|before you continue", text):
        return "a consent page is in the way"
    return "the page layout changed (or the query has no results)"


def debug_folder(debug_root: Path, name: str) -> Path:
    """A new folder for one empty page, e.g. scrape-debug/bing-angry_face-20260101T120000."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    folder = debug_root / f"{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_')[:60]}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_debug(driver: WebDriver, debug_root: Path, engine: Engine, query: str) -> Path:
    folder = debug_folder(debug_root, f"{engine.name}-{query}")
    (folder / "page.html").write_text(driver.page_source, encoding="utf-8")
    driver.save_screenshot(str(folder / "screenshot.png"))
    return folder


def collect(driver: WebDriver, engine: Engine, query: str, *, limit: int | None = None,
            base_url: str | None = None, debug_root: Path | None = None, pace: Pace = Pace()) -> Collected:
    url = engine.search_url(query, base_url)
    driver.get(url)
    if _click_first(driver, engine.consent_css):
        _wait_for_growth(driver, engine, [0, 0], pace)
    _scroll_and_more(driver, engine, limit, pace)
    results, stopped = follow_pages(engine, driver.page_source, driver.current_url,
                                    lambda page, _referer: fetch_in_page(driver, page), limit=limit, base_url=base_url)
    if not results:
        hint = likely_cause(driver.page_source, url)
        folder = save_debug(driver, debug_root, engine, query) if debug_root else None
        return Collected([], url, folder, hint)
    return Collected(results[:limit] if limit else results, url, hint=stopped)
