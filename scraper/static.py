"""Collecting links without a browser (requests + BeautifulSoup), where no JavaScript is needed:
an engine's plain result pages (Bing's /images/async?...&first=N) and any gallery page (--from-page).
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from bs4 import BeautifulSoup

from scraper.collect import REFUSED, UNRESOLVED, Collected, PageError, debug_folder, follow_pages, likely_cause
from scraper.engines.base import Engine, Result, unique

IMAGE_PATH = re.compile(r"\.(jpe?g|png|gif|webp|bmp|tiff?)$", re.IGNORECASE)


def fetch_page(session: requests.Session, url: str, timeout: float = 20, referer: str | None = None) -> str:
    """A result page's HTML; referer: the page that named it, sent as a browser following it would."""
    try:
        resp = session.get(url, timeout=timeout, headers={"Referer": referer} if referer else None)
    except requests.RequestException as exc:
        raise PageError(f"cannot fetch {url}: {why_unreachable(exc, timeout)}") from None
    if resp.status_code >= 400:
        raise PageError(f"cannot fetch {url}: HTTP {resp.status_code}")
    return resp.text


def why_unreachable(exc: requests.RequestException, timeout: float) -> str:
    """A request's failure in words a user can act on."""
    text = str(exc)
    if isinstance(exc, requests.exceptions.ProxyError):
        return "the proxy failed (check HTTP_PROXY / HTTPS_PROXY)"
    if "NameResolution" in text or "Name or service not known" in text or "getaddrinfo" in text:
        return UNRESOLVED
    if "Connection refused" in text or "actively refused" in text:
        return REFUSED
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS/SSL error"
    return type(exc).__name__


def _largest_src(img) -> str | None:
    """The biggest candidate of an <img>: srcset's widest, else a lazy-load attribute, else src."""
    srcset = img.get("srcset") or img.get("data-srcset")
    if srcset:
        candidates = [c.strip().split() for c in srcset.split(",") if c.strip()]
        best = max(candidates, key=lambda c: float(re.sub(r"[^\d.]", "", c[1]) or 0) if len(c) > 1 else 0)
        return best[0]
    return img.get("data-src") or img.get("data-original") or img.get("src")


def gallery_links(html: str, page_url: str) -> list[Result]:
    """Full-size images of a gallery page: a link to an image file wins over the thumbnail inside
    it (thumbnails lead to full-size images); other <img> elements count as they are."""
    soup = BeautifulSoup(html, "html.parser")
    results = []
    for el in soup.find_all(["a", "img"]):
        if el.name == "a":
            href = el.get("href")
            if href and IMAGE_PATH.search(urlsplit(href).path):
                img = el.find("img")
                results.append(Result(
                    url=urljoin(page_url, href),
                    page_url=page_url,
                    title=el.get("title") or (img.get("alt") if img else None) or None,
                    thumbnail_url=urljoin(page_url, _largest_src(img)) if img and _largest_src(img) else None,
                ))
        elif not el.find_parent("a", href=IMAGE_PATH) and _largest_src(el):
            src = _largest_src(el)
            if not src.startswith("data:"):
                results.append(Result(url=urljoin(page_url, src), page_url=page_url, title=el.get("alt") or None))
    return unique(results)


def _save_html(debug_root: Path | None, name: str, html: str) -> Path | None:
    if debug_root is None:
        return None
    folder = debug_folder(debug_root, name)
    (folder / "page.html").write_text(html, encoding="utf-8")
    return folder


def collect_pages(session: requests.Session, engine: Engine, query: str, *, limit: int | None = None,
                  base_url: str | None = None, debug_root: Path | None = None) -> Collected:
    """The engine's result pages one after another (following next_pages) until nothing new or limit."""
    start = engine.search_url(query, base_url)
    first_html = fetch_page(session, start)
    results, stopped = follow_pages(engine, first_html, start,
                                    lambda page, referer: fetch_page(session, page, referer=referer),
                                    limit=limit, base_url=base_url)
    if not results:
        return Collected([], start, _save_html(debug_root, f"{engine.name}-{query}", first_html), likely_cause(first_html))
    return Collected(results[:limit] if limit else results, start, hint=stopped)


def collect_gallery(session: requests.Session, url: str, *, limit: int | None = None,
                    debug_root: Path | None = None) -> Collected:
    html = fetch_page(session, url)
    results = gallery_links(html, url)
    if not results:
        return Collected([], url, _save_html(debug_root, f"page-{urlsplit(url).netloc}", html), likely_cause(html))
    return Collected(results[:limit] if limit else results, url)
