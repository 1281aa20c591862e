"""What every search-engine adapter provides, and the helpers they share.

An adapter knows one engine's markup: its search URL, where results and full-size URLs are on the
page, its consent and "show more results" controls. The scroll-and-collect driver (collect.py) and
the no-browser path (static.py) know nothing engine-specific, so a markup change is a one-file fix.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit


@dataclass(frozen=True)
class Result:
    """One image found on a result page."""

    url: str  # the full-size image, not the thumbnail
    page_url: str | None = None  # the page the image is on
    title: str | None = None
    thumbnail_url: str | None = None


def rebase(url: str, base_url: str | None) -> str:
    """The same URL on a mirror: only scheme, host and port change; path and query stay."""
    if not base_url:
        return url
    base, parts = urlsplit(base_url), urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, parts.fragment))


def unique(results: list[Result]) -> list[Result]:
    """Drop repeated full-size URLs, keeping the first (its rank)."""
    seen: set[str] = set()
    out = []
    for r in results:
        if r.url not in seen:
            seen.add(r.url)
            out.append(r)
    return out


class Engine(ABC):
    name: str
    site: str  # the real site's origin, e.g. "https://www.bing.com"
    result_css: str  # what counts as one result in the live page (the driver counts these)
    consent_css: tuple[str, ...] = ()  # buttons that accept a cookie / consent page
    more_css: tuple[str, ...] = ()  # the "show more results" control
    needs_browser: bool = True  # False: result pages load without JavaScript (static.py can page them)

    def search_url(self, query: str, base_url: str | None = None) -> str:
        return rebase(urljoin(self.site, self.search_path(query)), base_url)

    @abstractmethod
    def search_path(self, query: str) -> str:
        """Path and query string of the image search, as on the real site."""

    @abstractmethod
    def parse(self, html: str, page_url: str) -> list[Result]:
        """Results in page order, full-size URLs absolute. A page may show one image twice; the
        collectors drop repeats (see unique), so the first showing gives the rank."""

    def next_pages(self, html: str, page_url: str) -> list[str]:
        """URLs of further result pages that need no JavaScript (absolute, on page_url's host)."""
        return []
