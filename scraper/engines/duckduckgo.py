"""DuckDuckGo Images (unproven on the live site: written from its known markup, tested on small pages).

The result page loads its images from a JSON endpoint, `/i.js?o=json&q=...&vqd=TOKEN`, whose
`results` hold `image` (full size), `thumbnail`, `url` (the page) and `title`, and whose `next` is the
following page. The token `vqd` is in the search page. Older tile markup (`div.tile--img[data-id]`,
data-id = the full-size URL) is read too.
"""
from __future__ import annotations

import json
import re
from urllib.parse import urlencode, urljoin

from bs4 import BeautifulSoup

from scraper.engines.base import Engine, Result

_VQD = re.compile(r"""vqd\s*[=:]\s*["']?([\d-]+)""")


def _json_body(html: str) -> dict | None:
    """The JSON of an i.js page, whether fetched raw or shown by a browser inside <pre>."""
    text = html.strip()
    if not text.startswith("{"):
        text = BeautifulSoup(html, "html.parser").get_text().strip()
    if not text.startswith("{"):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


class DuckDuckGo(Engine):
    name = "duckduckgo"
    site = "https://duckduckgo.com"
    result_css = "div.tile--img, figure"
    consent_css = ()  # DuckDuckGo shows no consent page
    more_css = ()  # results load while scrolling; i.js pages go on where scrolling stops

    def search_path(self, query: str) -> str:
        return "/?" + urlencode({"q": query, "iax": "images", "ia": "images"})

    def parse(self, html: str, page_url: str) -> list[Result]:
        data = _json_body(html)
        if data is not None:
            return [
                Result(url=r["image"], page_url=r.get("url"), title=r.get("title"), thumbnail_url=r.get("thumbnail"))
                for r in data.get("results", []) if r.get("image")
            ]
        soup = BeautifulSoup(html, "html.parser")
        results = []
        for tile in soup.select("div.tile--img[data-id]"):
            link = tile.select_one("a.tile--img__sub[href]")
            img = tile.select_one("img")
            results.append(Result(
                url=urljoin(page_url, tile["data-id"]),
                page_url=link["href"] if link else None,
                title=(img.get("alt") or None) if img else None,
                thumbnail_url=urljoin(page_url, img["src"]) if img and img.get("src") else None,
            ))
        return results

    def next_pages(self, html: str, page_url: str) -> list[str]:
        data = _json_body(html)
        if data is not None:
            return [urljoin(page_url, "/" + data["next"].lstrip("/"))] if data.get("next") else []
        token = _VQD.search(html)
        if not token:
            return []
        query = re.search(r"[?&]q=([^&]*)", page_url)
        params = {"l": "us-en", "o": "json", "vqd": token.group(1), "f": ",,,,", "p": "1"}
        return [urljoin(page_url, "/i.js?q=" + (query.group(1) if query else "") + "&" + urlencode(params))]
