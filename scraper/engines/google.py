"""Google Images (checked against maintained references, not against the live site: no internet here).

The search page is `/search?q=...&tbm=isch&hl=en`. Outside the US, Google first redirects to its
"Before you continue" page (consent.google.com/m?continue=...): two forms posting to
consent.google.com/save, buttons labelled "Reject all" and "Accept all"; on www.google.com the same
choice may be a dialog whose "Accept all" button is `#L2AGLb` ("Reject all" is `#W0wltc`).

Result tiles are `div[data-lpage]` / `div[data-ri]` (data-lpage: the page the image is on). Their
markup holds only thumbnails: the full-size URL is in inline script data, one record per image,
`[0,"DOCID",["https://encrypted-tbn0.gstatic.com/...",h,w],["https://full/size.jpg",h,w],null,...,
{"2000":[null,"host","68KB"],...,"2003":[null,"TOKEN","https://page","Title",...]}]`, the DOCID
being the tile's `data-docid`. A tile whose first link has been given `/imgres?imgurl=...&imgrefurl=...`
(Google does this on hover) is read from that link when the scripts have no record for it.
"Show more results" is `input.mye4qd`.

References (read 2025, via the public code index):
- searxng/searxng searx/engines/google_images.py and google.py (the `CONSENT=YES+` cookie, the
  `/search?tbm=isch&asearch=isch&async=_fmt:json,p:1,ijn:N` JSON endpoint answering
  `)]}'` + `{"ischj":{"metadata":[{"original_image":{"url"}, "result":{"referrer_url","page_title"},
  "thumbnail":{"url"}}]}}`, served only to the Google app's user agent, so not used here);
- chocolateboy/userscripts src/google-dwimages.user.ts (2.10: records `node[1][3][0]` joined to
  tiles by `data-ri`; 3.0.1: tiles `:is([data-lpage],[data-ri])`, `/imgres?imgurl=` links);
- hellock/icrawler forks' GoogleParser (`AF_initDataCallback` ds:1, `n[3]` = [full, h, w],
  `n[25]["2003"][2]` = page), and several 2024 scrapers' record regexes with the same layout;
- Selenium scrapers' consent ids `#L2AGLb` / `#W0wltc` and "Show more results" `.mye4qd`.
"""
from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from bs4 import BeautifulSoup

from scraper.engines.base import Engine, Result

_STR = r'"((?:[^"\\]|\\.)*)"'  # a JSON string inside script text
# [0,"DOCID",["thumbnail",h,w],["full size",h,w]  (Google writes no spaces; a line break is tolerated)
_RECORD = re.compile(rf'\[0,\s*{_STR},\s*\[{_STR},\d+,\d+\],\s*\[{_STR},\d+,\d+\]')
# "2003":[null,"TOKEN","page url","title"
_SOURCE = re.compile(rf'"2003":\[null,\s*{_STR},\s*{_STR},\s*{_STR}')


def _text(raw: str) -> str | None:
    """Undo the script's escapes (\\u003d, \\u0026, \\/); None for text JSON cannot read (a JS-only \\x3d)."""
    try:
        return json.loads(f'"{raw}"')
    except ValueError:
        return None


def _records(soup: BeautifulSoup) -> dict[str, Result]:
    """Full-size URL, page and title of every image record in the page's scripts, by DOCID,
    in script order."""
    found: dict[str, Result] = {}
    for script in soup.find_all("script"):
        text = script.string or ""
        matches = list(_RECORD.finditer(text))
        for i, m in enumerate(matches):
            docid, thumb, full = (_text(g) for g in m.groups())
            if docid is None or not (full or "").startswith("http"):
                continue
            end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
            src = _SOURCE.search(text, m.end(), end)
            page, title = (_text(src.group(2)) or None, _text(src.group(3)) or None) if src else (None, None)
            found.setdefault(docid, Result(url=full, page_url=page, title=title, thumbnail_url=thumb))
    return found


def _from_link(tile, page_url: str) -> Result | None:
    """A tile whose link already points at /imgres?imgurl=FULL&imgrefurl=PAGE."""
    link = tile.select_one("a[href*='imgurl=']")
    if link is None:
        return None
    try:
        params = parse_qs(urlsplit(urljoin(page_url, link["href"])).query)
    except ValueError:  # an unparsable href, e.g. a broken IPv6 host
        return None
    if not params.get("imgurl"):
        return None
    img = tile.select_one("img[alt]")
    return Result(url=params["imgurl"][0], page_url=(params.get("imgrefurl") or [tile.get("data-lpage")])[0],
                  title=(img["alt"] or None) if img else None)


class Google(Engine):
    name = "google"
    site = "https://www.google.com"
    result_css = "div[data-lpage], div[data-ri]"
    consent_css = (
        "button#L2AGLb",  # the dialog on www.google.com
        "form[action$='/save'] button[aria-label='Accept all']",  # consent.google.com
        "button[aria-label='Accept all']",
        "form[action$='/save'] button",  # another language: the first form ("Reject all") passes too
    )
    more_css = ("input.mye4qd", "input[value='Show more results']")

    def search_path(self, query: str) -> str:
        return "/search?" + urlencode({"q": query, "tbm": "isch", "hl": "en"})

    def parse(self, html: str, page_url: str) -> list[Result]:
        soup = BeautifulSoup(html, "html.parser")
        records = _records(soup)
        results, used = [], set()
        for tile in soup.select(self.result_css):
            docid = tile.get("data-docid")
            if docid in records:
                r = records[docid]
                used.add(docid)
                results.append(r if r.page_url else Result(r.url, tile.get("data-lpage"), r.title, r.thumbnail_url))
            elif (linked := _from_link(tile, page_url)) is not None:
                results.append(linked)
        # Records without a tile (not shown yet, or tiles without data-docid) follow, in script order.
        return results + [r for docid, r in records.items() if docid not in used]
