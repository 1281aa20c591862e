"""Engine adapters on real and hand-made pages; the no-browser path; query -> label."""
from __future__ import annotations

import html
import json
import re

import pytest
import requests

from scraper.engines import get_engine, rebase
from scraper.labels import infer_label
from scraper.static import collect_gallery, collect_pages, gallery_links

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


@pytest.fixture(scope="module")
def bing_page(shared_data) -> str:
    return (shared_data / "search_pages" / "bing_images.html").read_text(encoding="utf-8")


def murls_by_regex(page: str) -> list[str]:
    """The saved page's murl values read without BeautifulSoup, as a cross-check."""
    anchors = re.findall(r'<a [^>]*class="iusc"[^>]*>', page)
    return [json.loads(html.unescape(re.search(r' m="([^"]*)"', a).group(1)))["murl"] for a in anchors]


def test_bing_reads_all_47_full_size_urls_of_the_saved_page_in_order(bing_page):
    results = get_engine("bing").parse(bing_page, "https://www.bing.com/images/search?q=golang+gopher")
    urls = [r.url for r in results]
    assert len(urls) == 47
    assert urls == murls_by_regex(bing_page)
    assert urls[0] == "https://vectorseek.com/wp-content/uploads/2023/03/Golang-Gopher-Logo-Vector.jpg"
    assert urls[1] == "https://ih1.redbubble.net/image.2875804682.2853/flat,750x,075,f-pad,750x1000,f8f8f8.jpg"
    assert not any("&amp;" in u or "&quot;" in u or "mm.bing.net/th" in u for u in urls)  # unescaped, not thumbnails
    first = results[0]
    assert first.page_url == "https://vectorseek.com/vector_logo/golang-gopher-logo-vector/"
    assert first.thumbnail_url == "https://ts4.mm.bing.net/th?id=OIP.LQQi0et0FFshviPhL18q9QHaHa&pid=15.1"
    assert first.title.startswith("Golang Gopher Logo PNG")


def test_bing_follows_data_next_url_against_a_local_server(bing_page, serve):
    extra = [f"https://example.org/more/{i}.jpg" for i in range(5)]

    def app(h):
        if h.route == "/images/search":
            h.send(200, bing_page.encode())
        elif h.route == "/images/async" and h.params.get("first") == "36":
            anchors = "".join(
                f'<a class="iusc" m="{html.escape(json.dumps({"murl": u, "purl": "https://example.org/"}))}"></a>'
                for u in extra
            )
            h.send(200, (anchors + '<div data-nextUrl=""></div>').encode())
        else:
            h.send(404)

    server = serve(app)
    with requests.Session() as session:
        got = collect_pages(session, get_engine("bing"), "golang gopher", base_url=server.url)
    assert [r.url for r in got.results] == list(dict.fromkeys(murls_by_regex(bing_page))) + extra  # 42 distinct + 5
    asked = [h for h in server.hits if h.startswith("/images/async")]
    # The saved page's own next URL, rebased: path and query parameters exactly as Bing wrote them.
    assert len(asked) == 1
    assert asked[0].startswith("/images/async?q=golang+gopher&first=36&count=35&cw=1024&ch=768")
    assert server.hits[0] == "/images/search?q=golang+gopher&form=HDRSC3&first=1"


def test_bing_stops_at_the_limit_without_fetching_more_pages(bing_page, serve):
    server = serve(lambda h: h.send(200, bing_page.encode()))
    with requests.Session() as session:
        got = collect_pages(session, get_engine("bing"), "golang gopher", base_url=server.url, limit=10)
    assert len(got.results) == 10 and len(server.hits) == 1


def test_base_url_changes_only_scheme_host_and_port():
    bing = get_engine("bing")
    assert bing.search_url("angry human face") == "https://www.bing.com/images/search?q=angry+human+face&form=HDRSC3&first=1"
    assert bing.search_url("angry human face", "http://127.0.0.1:8000") == (
        "http://127.0.0.1:8000/images/search?q=angry+human+face&form=HDRSC3&first=1")
    assert rebase("https://duckduckgo.com/i.js?q=x&p=2", "http://localhost:9") == "http://localhost:9/i.js?q=x&p=2"


GOOGLE_PAGE = r"""<html><body>
<div data-lpage="https://site-a.example/page"><img src="data:image/gif;base64,R0lGOD"></div>
<div data-lpage="https://site-b.example/p?x=1"><img src="data:image/gif;base64,R0lGOD"></div>
<script nonce="x">AF_initDataCallback({key: 'ds:1', data:[null,[["GRID_STATE0",null,[[1,[0,"id1",
["https://encrypted-tbn0.gstatic.com/images?q\u003dtbn:ANd9GcQ",194,259],
["https://site-a.example/full/angry.jpg",1200,1600],null,0,"rgb(1,2,3)"]],
[1,[0,"id2",["https://encrypted-tbn0.gstatic.com/images?q\u003dtbn:XYZ",183,275],
["https://cdn.site-b.example/img?id\u003d7\u0026size\u003dlarge",800,1200]]]]]]});</script>
</body></html>"""


def test_google_reads_full_size_urls_from_script_data_and_skips_thumbnails():
    results = get_engine("google").parse(GOOGLE_PAGE, "https://www.google.com/search?q=x&tbm=isch")
    assert [r.url for r in results] == ["https://site-a.example/full/angry.jpg", "https://cdn.site-b.example/img?id=7&size=large"]
    assert [r.page_url for r in results] == ["https://site-a.example/page", "https://site-b.example/p?x=1"]


def test_duckduckgo_pages_through_its_json_results():
    ddg = get_engine("duckduckgo")
    search = "https://duckduckgo.com/?q=fearful+face&iax=images&ia=images"
    page = """<html><script>DDG.deep.initialize('/d.js?q=fearful+face&vqd=4-12345678901234567890',1);
    var vqd="4-12345678901234567890";</script><body><div class="tile--img" data-id="https://a.example/1.jpg">
    <a class="tile--img__sub" href="https://a.example/page1"></a><img src="//external-content.duckduckgo.com/iu/?u=t1" alt="One"></div></body></html>"""
    first = ddg.parse(page, search)
    assert [(r.url, r.page_url, r.title) for r in first] == [("https://a.example/1.jpg", "https://a.example/page1", "One")]
    [json_url] = ddg.next_pages(page, search)
    assert json_url.startswith("https://duckduckgo.com/i.js?q=fearful+face&") and "vqd=4-12345678901234567890" in json_url
    body = json.dumps({"results": [{"image": "https://b.example/2.png", "thumbnail": "https://t/2", "url": "https://b.example/",
                                    "title": "Two"}], "next": "i.js?q=fearful+face&o=json&p=2&s=100"})
    shown_by_browser = f"<html><body><pre>{html.escape(body)}</pre></body></html>"
    for raw in (body, shown_by_browser):
        assert [r.url for r in ddg.parse(raw, json_url)] == ["https://b.example/2.png"]
        assert ddg.next_pages(raw, json_url) == ["https://duckduckgo.com/i.js?q=fearful+face&o=json&p=2&s=100"]


def test_gallery_page_prefers_the_full_size_link_over_its_thumbnail(serve):
    page = """<html><body>
    <a href="/full/1.jpg" title="first"><img src="/thumbs/1.jpg"></a>
    <a href="big/2.PNG"><img src="/thumbs/2.jpg" alt="second"></a>
    <a href="/about.html"><img src="/logo.png" alt="logo"></a>
    <img srcset="/s/3-small.jpg 320w, /s/3-large.jpg 1280w" src="/s/3-small.jpg">
    <img src="data:image/png;base64,AAAA">
    </body></html>"""
    server = serve(lambda h: h.send(200, page.encode()))
    with requests.Session() as session:
        got = collect_gallery(session, server.url + "/gallery/index.html")
    assert [r.url for r in got.results] == [
        server.url + "/full/1.jpg", server.url + "/gallery/big/2.PNG", server.url + "/logo.png", server.url + "/s/3-large.jpg",
    ]
    assert got.results[0].thumbnail_url == server.url + "/thumbs/1.jpg"
    assert gallery_links("<p>nothing</p>", "http://x/") == []


@pytest.mark.parametrize("query, label", [
    ("angry human face", "angry"),
    ("fearful face", "fear"),
    ("smiling person", "happy"),
    ("Surprised woman!", "surprise"),
    ("crying child", "sad"),
    ("disgusted man", "disgust"),
    ("neutral face", "neutral"),
    ("human face", None),  # names no class
    ("happy or sad face", None),  # names two: no guess
    ("madrid street", None),  # "mad" only as a whole word
])
def test_label_is_inferred_from_the_query(query, label):
    assert infer_label(query, CLASSES) == label


def test_label_inference_uses_the_catalogs_classes():
    assert infer_label("contempt face", CLASSES) is None
    assert infer_label("contempt face", CLASSES + ["contempt"]) == "contempt"
    assert infer_label("angry face", ["happy", "sad"]) is None
