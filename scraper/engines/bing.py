"""Bing Images.

Each result is an `a.iusc` anchor whose `m` attribute is HTML-escaped JSON: `murl` is the full-size
image, `turl` the thumbnail, `purl` the page, `t` the title. The result list's `data-nextUrl` is an
`/images/async?q=...&first=N` page of further results that needs no JavaScript.
"""
from __future__ import annotations

import json
from urllib.parse import urlencode, urljoin

from bs4 import BeautifulSoup

from scraper.engines.base import Engine, Result


class Bing(Engine):
    name = "bing"
    site = "https://www.bing.com"
    result_css = "a.iusc"
    consent_css = ("#bnp_btn_accept", "button#bnp_btn_accept", "#bnp_container button[aria-label*='Accept']")
    more_css = (".mm_seemore a.btn_seemore", "a.btn_seemore", "input[value='See more images']")
    needs_browser = False

    def search_path(self, query: str) -> str:
        return "/images/search?" + urlencode({"q": query, "form": "HDRSC3", "first": 1})

    def parse(self, html: str, page_url: str) -> list[Result]:
        results = []
        for a in BeautifulSoup(html, "html.parser").select("a.iusc[m]"):
            try:
                meta = json.loads(a["m"])  # BeautifulSoup has already unescaped &quot; and &amp;
            except ValueError:
                continue
            murl = meta.get("murl")
            if not murl:
                continue
            results.append(
                Result(
                    url=urljoin(page_url, murl),
                    page_url=meta.get("purl") or None,
                    title=meta.get("t") or meta.get("desc") or None,
                    thumbnail_url=meta.get("turl") or None,
                )
            )
        return results

    def next_pages(self, html: str, page_url: str) -> list[str]:
        soup = BeautifulSoup(html, "html.parser")  # html.parser lowercases attribute names
        return [urljoin(page_url, el["data-nexturl"]) for el in soup.select("[data-nexturl]") if el["data-nexturl"].strip()]
