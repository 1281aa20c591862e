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
    # The next page is asked for as a browser following it would: with the page that named it as Referer.
    assert server.referers[1] == server.url + "/images/search?q=golang+gopher&form=HDRSC3&first=1"
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


# The layout of Google's per-image script records, as several maintained scrapers read it (see
# scraper/engines/google.py): [0,DOCID,[thumbnail,h,w],[full size,h,w],null,0,"rgb(..)",null,0,
# {"2000":[null,host,size],"2001":[...],"2003":[null,TOKEN,page,title,...]}] (e.g. the sohu.com example in a
# 2024 GoogleImageSearchTool, the `docid_ABC123` fixture of an app/scraper test suite, icrawler forks'
# n[3] / n[25]["2003"]). Tiles: div[data-lpage] / div[data-ri] (chocolateboy's Google DWIMages 3.0.1).
GOOGLE_PAGE = r"""<html><body><div id="islrg"><div class="islrc">
<div jsname="dTDiAc" data-ri="0" data-docid="LJNe5BB21_y0_M" data-lpage="https://www.sohu.com/a/765546267_121922110">
  <a><img src="data:image/gif;base64,R0lGOD" alt="Cats"></a></div>
<div jsname="dTDiAc" data-ri="1" data-docid="nope" data-lpage="https://site-b.example/p?x=1">
  <a href="/imgres?imgurl=https%3A%2F%2Fcdn.site-b.example%2Fb.png&amp;imgrefurl=https%3A%2F%2Fsite-b.example%2Fp%3Fx%3D1&amp;docid=nope">
  <img src="data:image/gif;base64,R0lGOD" alt="B title"></a></div>
<div jsname="dTDiAc" data-ri="2" data-docid="unknown" data-lpage="https://site-c.example/"><a><img alt="C"></a></div>
</div></div>
<script nonce="x">AF_initDataCallback({key: 'ds:1', hash: '2', data:[null,[[
[1,[0,"LJNe5BB21_y0_M",["https://encrypted-tbn0.gstatic.com/images?q\u003dtbn:ANd9GcQaMCnoCBL3\u0026s",236,213],
["https://q5.itc.cn/images01/20240320/e2c7f95da03249c8afee7ca94a017404.jpeg",1196,1080],null,0,"rgb(152,114,82)",null,0,
{"2000":[null,"www.sohu.com","68KB"],"2001":[null,null,null,3,9,null,9],"2003":[null,"LJNe5BB21_y0_M",
"https://www.sohu.com/a/765546267_121922110","\u76d8\u70b9 cats \u0026 more",null,0]}]],
[1,[0,"later1",["https://encrypted-tbn0.gstatic.com/images?q\u003dtbn:XYZ",183,275],
["https://cdn.site-d.example/img?id\u003d7\u0026size\u003dlarge",800,1200],null,1,"rgb(1,2,3)",null,0,
{"2000":[null,"site-d.example","1MB"],"2003":[null,"t2","https://site-d.example/d","D"]}]],
[7,[null,"related searches"]]]]], sideChannel: {}});</script>
</body></html>"""


def test_google_joins_tiles_to_script_records_and_reads_imgres_links():
    results = get_engine("google").parse(GOOGLE_PAGE, "https://www.google.com/search?q=cats&tbm=isch&hl=en")
    assert [(r.url, r.page_url, r.title) for r in results] == [
        ("https://q5.itc.cn/images01/20240320/e2c7f95da03249c8afee7ca94a017404.jpeg",
         "https://www.sohu.com/a/765546267_121922110", "\u76d8\u70b9 cats & more"),
        ("https://cdn.site-b.example/b.png", "https://site-b.example/p?x=1", "B title"),  # from its /imgres link
        ("https://cdn.site-d.example/img?id=7&size=large", "https://site-d.example/d", "D"),  # a record not shown yet
    ]
    assert results[0].thumbnail_url == "https://encrypted-tbn0.gstatic.com/images?q=tbn:ANd9GcQaMCnoCBL3&s"
    assert get_engine("google").parse("<html><body><div data-ri='0'><a><img></a></div></body></html>", "https://g/") == []


def test_google_search_url_and_controls():
    google = get_engine("google")
    assert google.search_url("angry face") == "https://www.google.com/search?q=angry+face&tbm=isch&hl=en"
    assert "button#L2AGLb" in google.consent_css and "input.mye4qd" in google.more_css


# The first i.js request as searxng's duckduckgo_extra.py and deedy5's duckduckgo_search build it
# (vqd from the search page's `vqd="..."`, `vqd=...&` or `vqd='...'`), a JSON page with their field
# names, and paging by the offset `s` read from `next`, keeping the other parameters (vqd too).
def test_duckduckgo_reads_the_token_then_pages_through_i_js():
    ddg = get_engine("duckduckgo")
    search = "https://duckduckgo.com/?q=fearful+face&iax=images&ia=images"
    assert ddg.search_url("fearful face") == search
    for page in ('<script>var vqd="4-3315859591543578"; DDG.page = 1;</script>',
                 "<script>DDG.deep.initialize('/d.js?q=fearful+face&vqd=4-3315859591543578&p_ent=');</script>",
                 "<script>vqd='4-3315859591543578';</script>"):
        assert ddg.parse(page, search) == []  # thumbnails only: the links come from i.js
        assert ddg.next_pages(page, search) == [
            "https://duckduckgo.com/i.js?l=us-en&o=json&q=fearful+face&vqd=4-3315859591543578&f=%2C%2C%2C%2C%2C&p=1"]
    assert ddg.next_pages("<html>no token</html>", search) == []
    first = "https://duckduckgo.com/i.js?l=us-en&o=json&q=fearful+face&vqd=4-3315859591543578&f=%2C%2C%2C%2C%2C&p=1"
    body = json.dumps({"query": "fearful face", "response_type": "images", "results": [
        {"height": 800, "width": 600, "image": "https://b.example/2.png?x=1&y=2", "thumbnail": "https://tse1.mm.bing.net/th?id=OIP.2",
         "url": "https://b.example/page", "title": "Two", "source": "Bing", "image_token": "abc"},
        {"height": 1, "width": 1, "image": "", "thumbnail": "t", "url": "u", "title": "no image", "source": "Bing"}],
        "next": "i.js?q=fearful+face&o=json&p=1&s=100&u=bing&f=,,,,,&l=us-en", "vqd": {"fearful face": "4-3315859591543578"}})
    shown_by_browser = f"<html><head></head><body><pre>{html.escape(body)}</pre></body></html>"
    for raw in (body, shown_by_browser):
        [r] = ddg.parse(raw, first)
        assert (r.url, r.page_url, r.title, r.thumbnail_url) == (
            "https://b.example/2.png?x=1&y=2", "https://b.example/page", "Two", "https://tse1.mm.bing.net/th?id=OIP.2")
        assert ddg.next_pages(raw, first) == [first + "&s=100"]
    last = json.dumps({"results": [{"image": "https://c.example/3.jpg"}]})  # no `next`: the last page
    assert ddg.next_pages(last, first + "&s=100") == []


GOOGLE_URL = "https://www.google.com/search?q=x&tbm=isch&hl=en"
DDG_JSON_URL = "https://duckduckgo.com/i.js?l=us-en&o=json&q=x&vqd=1-2&f=%2C%2C%2C%2C%2C&p=1"
ODD_MARKUP = [  # what a changed or hostile page may hold: nothing usable, and no exception
    pytest.param("google", '<script>[0,"d1",["https://t\\x3d",1,2],["https://f\\x3d1",1,2]</script>', GOOGLE_URL,
                 id="google-js-only-escape"),
    pytest.param("google", '<script>[0,"d\n1",["https://t",1,2],["https://f",1,2]</script>', GOOGLE_URL,
                 id="google-raw-line-break"),
    pytest.param("google", '<div data-ri="0"><a href="http://[broken/imgres?imgurl=https://f">x</a></div>', GOOGLE_URL,
                 id="google-unparsable-link"),
    pytest.param("duckduckgo", '{"results": null}', DDG_JSON_URL, id="ddg-results-null"),
    pytest.param("duckduckgo", '{"results": [{"image": 5}, {"image": ["https://f"]}, "https://f"]}', DDG_JSON_URL,
                 id="ddg-images-not-strings"),
    pytest.param("duckduckgo", '{"results": [], "next": "http://[broken/i.js?s=100"}', DDG_JSON_URL,
                 id="ddg-unparsable-next"),
    pytest.param("duckduckgo", '{"results": ' + "[" * 100_000 + "]" * 100_000 + "}", DDG_JSON_URL,
                 id="ddg-nested-too-deep"),
]


@pytest.mark.parametrize("name, page, url", ODD_MARKUP)
def test_odd_markup_gives_no_results_and_raises_nothing(name, page, url):
    engine = get_engine(name)
    assert engine.parse(page, url) == []
    assert engine.next_pages(page, url) == []


def test_a_record_with_odd_text_does_not_hide_the_others():
    page = ('<script>[0,"bad",["https://t\\x3d",1,2],["https://f\\x3d1",1,2],'
            '[0,"good",["https://t",1,2],["https://full/size.jpg",1,2]</script>')
    assert [r.url for r in get_engine("google").parse(page, GOOGLE_URL)] == ["https://full/size.jpg"]


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
