"""The downloader: many URLs at once, each one streamed into a temporary file and kept only when it
is a complete, valid image. Every URL ends in one DownloadStatus, like img2dataset's per-item status.

One requests Session (pooled connections) is shared by a thread pool; a small semaphore per host
keeps us polite to any one server. A kept file stays in the blob store's tmp/ until the writer
renames it into the store, so a killed process never leaves half a file in the store.

Each URL has one deadline (Limits.total_timeout): connecting, waiting for headers, retry waits and
the body all come out of it (headers are guarded by a timer that cuts the connection, the body by
shrinking each read's timeout). A run that stops early (Ctrl-C, SIGTERM) does not wait for running
downloads: they see the abort at their next chunk and remove their temporary files.
"""
from __future__ import annotations

import email.utils
import hashlib
import os
import socket
import tempfile
import threading
import time
import warnings
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain, zip_longest
from pathlib import Path
from typing import Iterable, Iterator, Mapping
from urllib.parse import urlsplit

import requests
import urllib3
from PIL import Image, UnidentifiedImageError
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from db.types import DownloadStatus

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36"
)
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF"}
# A browser's image Accept header without AVIF and SVG: CDNs that negotiate the format would
# otherwise send those, which are not kept.
ACCEPT = "image/webp,image/apng,image/*,*/*;q=0.8"
RETRY_CODES = {429, 500, 502, 503, 504}
CHUNK = 64 * 1024
TEMP_PREFIX = "scrape-"

# We apply our own pixel cap (Limits.max_pixels) and report too_large; Pillow's warning would only
# repeat it on stderr. Above twice its own limit Pillow raises DecompressionBombError, also too_large.
warnings.simplefilter("ignore", Image.DecompressionBombWarning)


@dataclass(frozen=True)
class Limits:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0  # silence between two reads
    total_timeout: float = 60.0  # a whole image, all attempts and waits included; caps the two above
    max_bytes: int = 20_000_000
    max_pixels: int = 80_000_000
    retries: int = 2  # extra attempts on 5xx and 429
    backoff: float = 1.0  # first wait before a retry; doubles each time
    max_retry_after: float = 30.0  # a longer Retry-After gives up instead of waiting
    max_redirects: int = 5
    per_host: int = 4  # requests in flight to one host


@dataclass(frozen=True)
class Fetched:
    """What one URL gave. temp_path is set only for ok: a complete, decoded image awaiting the store."""

    url: str
    status: DownloadStatus
    http_status: int | None = None
    content_type: str | None = None
    detail: str | None = None
    temp_path: Path | None = None
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    fetched_at: datetime | None = None
    blob_path: str | None = None  # ok, from a Ray worker: already in the blob store (temp_path is None)


class _Reject(Exception):
    def __init__(self, status: DownloadStatus, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class _Aborted(Exception):
    """The run is stopping: this download is dropped, unrecorded."""


def _discard_temp(fut: Future) -> None:
    """A download that completed after the run stopped taking results: remove its file."""
    if not fut.cancelled() and fut.exception() is None and fut.result().temp_path:
        fut.result().temp_path.unlink(missing_ok=True)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def validate_image(path: Path, max_pixels: int) -> tuple[str, int, int]:
    """(format, width, height) of a file Pillow can fully decode (a GIF's first frame), else _Reject."""
    try:
        with Image.open(path) as im:
            fmt, (width, height) = im.format, im.size
            if fmt not in ACCEPTED_FORMATS:
                raise _Reject(DownloadStatus.NOT_IMAGE, f"unsupported format {fmt}")
            if width * height > max_pixels:
                raise _Reject(DownloadStatus.TOO_LARGE, f"{width}x{height} pixels is over the cap")
            im.load()  # decodes the pixels: a truncated or corrupt file fails here
    except Image.DecompressionBombError:
        raise _Reject(DownloadStatus.TOO_LARGE, "decompression bomb") from None
    except UnidentifiedImageError:
        raise _Reject(DownloadStatus.NOT_IMAGE, "not an image") from None
    except (OSError, SyntaxError, ValueError) as exc:  # Pillow's ways of saying "broken file"
        raise _Reject(DownloadStatus.NOT_IMAGE, f"undecodable: {exc}") from None
    return fmt, width, height


def referer_for(page: str | None, image: str) -> str | None:
    """The Referer a browser showing `page` sends for `image` (its default policy,
    strict-origin-when-cross-origin): the page itself on the same origin, only its origin on
    another, nothing from https to http. Percent-encoded as a browser sends it: a raw non-Latin-1
    character or a line break would make the request fail outright."""
    if not page:
        return None
    p, i = urlsplit(page), urlsplit(image)
    if p.scheme not in ("http", "https") or not p.netloc or (p.scheme == "https" and i.scheme != "https"):
        return None
    same_origin = (p.scheme, p.netloc.lower()) == (i.scheme, i.netloc.lower())
    sent = page.split("#", 1)[0] if same_origin else f"{p.scheme}://{p.netloc}/"
    return requests.utils.requote_uri(sent)


def interleave_by_host(urls: Iterable[str]) -> list[str]:
    """Round-robin over hosts, so the per-host limit rarely leaves a worker waiting."""
    by_host: dict[str, list[str]] = defaultdict(list)
    for u in urls:
        by_host[urlsplit(u).netloc].append(u)
    return [u for u in chain.from_iterable(zip_longest(*by_host.values())) if u is not None]


class Downloader:
    def __init__(self, temp_dir: Path, *, concurrency: int = 16, limits: Limits = Limits(),
                 user_agent: str = USER_AGENT):
        self.temp_dir = Path(temp_dir)
        self.concurrency = concurrency
        self.limits = limits
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept": ACCEPT})
        self.session.max_redirects = limits.max_redirects
        adapter = _DeadlineAdapter(pool_connections=64, pool_maxsize=max(concurrency, 4), max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._slots_lock = threading.Lock()
        self._too_slow = f"not complete after {limits.total_timeout:g} s"

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "Downloader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetch_all(self, urls: Iterable[str], referers: Mapping[str, str | None] | None = None) -> Iterator[Fetched]:
        """Fetch every URL; yields each outcome as it completes. referers: the page each image is on,
        sent as a browser showing that page would (sites that refuse hotlinking check it)."""
        abort, referers = threading.Event(), referers or {}
        pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="download")
        futures = [pool.submit(self.fetch, u, abort, referers.get(u)) for u in interleave_by_host(urls)]
        waiting = set(futures)
        try:
            for fut in as_completed(futures):
                waiting.discard(fut)
                yield fut.result()
        finally:
            # Normally nothing is left. Stopped early (Ctrl-C, SIGTERM, an error): queued downloads
            # are cancelled, running ones stop at their next chunk, and no file is left behind.
            abort.set()
            pool.shutdown(wait=False, cancel_futures=True)
            for fut in waiting:
                fut.add_done_callback(_discard_temp)

    def fetch(self, url: str, abort: threading.Event | None = None, referer: str | None = None) -> Fetched:
        if urlsplit(url).scheme.lower() not in ("http", "https"):
            return Fetched(url, DownloadStatus.REFUSED_SCHEME, detail=f"only http and https are fetched ({urlsplit(url).scheme or 'no'} scheme)")
        abort = abort or threading.Event()
        with self._slot(urlsplit(url).netloc):
            # The clock starts once a slot is ours: waiting behind the same host's other images is
            # the per-host limit's doing, not this image's.
            deadline = time.monotonic() + self.limits.total_timeout
            _headers_deadline.at = deadline
            try:
                sent = referer_for(referer, url)
                return self._fetch_with_retries(url, deadline, abort, {"Referer": sent} if sent else None)
            finally:
                _headers_deadline.at = None

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._slots_lock:
            if host not in self._host_slots:
                self._host_slots[host] = threading.BoundedSemaphore(self.limits.per_host)
            return self._host_slots[host]

    def _fetch_with_retries(self, url: str, deadline: float, abort: threading.Event,
                            headers: dict[str, str] | None) -> Fetched:
        lim = self.limits
        for attempt in range(lim.retries + 1):
            if abort.is_set():
                raise _Aborted()
            left = deadline - time.monotonic()
            if left <= 0:
                return Fetched(url, DownloadStatus.TIMEOUT, detail=self._too_slow)
            try:
                resp = self.session.get(url, stream=True, headers=headers,
                                        timeout=(min(lim.connect_timeout, left), min(lim.read_timeout, left)))
            except requests.RequestException as exc:
                return self._no_response(url, exc, deadline)
            if time.monotonic() >= deadline:  # headers cut at the deadline (or just too late)
                resp.close()
                return Fetched(url, DownloadStatus.TIMEOUT, detail=self._too_slow)
            with resp:
                code, ctype = resp.status_code, resp.headers.get("Content-Type")
                if code in RETRY_CODES and attempt < lim.retries:
                    asked = retry_after_seconds(resp.headers.get("Retry-After"))
                    wait = asked if asked is not None else lim.backoff * 2**attempt
                    if asked is not None and asked > lim.max_retry_after:
                        return Fetched(url, DownloadStatus.HTTP_ERROR, code, ctype, f"Retry-After {asked:.0f} s is too long")
                    if wait >= deadline - time.monotonic():
                        return Fetched(url, DownloadStatus.HTTP_ERROR, code, ctype,
                                       f"HTTP {code}; no time left to wait {wait:g} s and retry")
                    if abort.wait(wait):
                        raise _Aborted()
                    continue
                if not 200 <= code < 300:
                    return Fetched(url, DownloadStatus.HTTP_ERROR, code, ctype, f"HTTP {code}")
                return self._stream(url, resp, deadline, abort)
        raise AssertionError("unreachable: the last attempt always returns")

    def _no_response(self, url: str, exc: requests.RequestException, deadline: float) -> Fetched:
        if time.monotonic() >= deadline:  # cut by the headers' deadline timer
            return Fetched(url, DownloadStatus.TIMEOUT, detail=self._too_slow)
        if isinstance(exc, requests.TooManyRedirects):
            return Fetched(url, DownloadStatus.NETWORK_ERROR, detail=f"more than {self.limits.max_redirects} redirects")
        if isinstance(exc, requests.Timeout):
            return Fetched(url, DownloadStatus.TIMEOUT, detail="no answer in time")
        return Fetched(url, DownloadStatus.NETWORK_ERROR, detail=type(exc).__name__)

    def _stream(self, url: str, resp: requests.Response, deadline: float, abort: threading.Event) -> Fetched:
        lim, code, ctype = self.limits, resp.status_code, resp.headers.get("Content-Type")
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > lim.max_bytes:
            return Fetched(url, DownloadStatus.TOO_LARGE, code, ctype, f"Content-Length {declared} is over the cap")
        fd, name = _mkstemp(self.temp_dir)
        tmp = Path(name)
        try:
            digest, size = hashlib.sha256(), 0
            with os.fdopen(fd, "wb") as f:
                # read1 returns whatever has arrived, so a trickle still meets the deadline; and no
                # single read may wait past it.
                while True:
                    _read_timeout_until(resp, deadline)
                    if not (chunk := resp.raw.read1(CHUNK, decode_content=True)):
                        break
                    if abort.is_set():
                        raise _Aborted()
                    size += len(chunk)
                    if size > lim.max_bytes:
                        raise _Reject(DownloadStatus.TOO_LARGE, f"body over {lim.max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise _Reject(DownloadStatus.TIMEOUT, self._too_slow)
                    digest.update(chunk)
                    f.write(chunk)
            if size == 0:
                raise _Reject(DownloadStatus.NOT_IMAGE, "empty body")
            fmt, width, height = validate_image(tmp, lim.max_pixels)
        except _Reject as rej:
            tmp.unlink(missing_ok=True)
            return Fetched(url, rej.status, code, ctype, rej.detail)
        except (urllib3.exceptions.ReadTimeoutError, requests.Timeout, TimeoutError):
            tmp.unlink(missing_ok=True)
            return Fetched(url, DownloadStatus.TIMEOUT, code, ctype, "the body stalled")
        except (urllib3.exceptions.HTTPError, requests.RequestException, ConnectionError) as exc:
            tmp.unlink(missing_ok=True)
            return Fetched(url, DownloadStatus.NETWORK_ERROR, code, ctype, f"body cut off: {type(exc).__name__}")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return Fetched(url, DownloadStatus.OK, code, ctype, None, tmp, digest.hexdigest(), width, height, fmt,
                       datetime.now(timezone.utc))


_headers_deadline = threading.local()  # .at: the deadline of the image this thread is fetching


def _cut(sock) -> None:
    # The plain socket's shutdown wakes the blocked read, which then sees the end of the stream.
    # Not SSLSocket.shutdown: it unwraps TLS under the reading thread's feet. A TLS-in-TLS socket
    # (https through an https proxy) keeps its plain socket in .socket.
    try:
        socket.socket.shutdown(getattr(sock, "socket", sock), socket.SHUT_RDWR)
    except (OSError, TypeError):
        pass  # already closed, or not a socket we know how to cut


class _HeadersDeadline:
    """Cuts the connection when the image's deadline passes while its response headers are still
    arriving: http.client reads them in a loop we cannot enter, and a server trickling them a byte at
    a time stays inside every read timeout. The timer lives only while this thread owns the
    connection, so it can never cut a pooled connection another download is using."""

    def getresponse(self, *args, **kwargs):
        deadline = getattr(_headers_deadline, "at", None)
        if deadline is None or self.sock is None:
            return super().getresponse(*args, **kwargs)
        timer = threading.Timer(max(deadline - time.monotonic(), 0.0), _cut, (self.sock,))
        timer.daemon = True
        timer.start()
        try:
            return super().getresponse(*args, **kwargs)
        finally:
            timer.cancel()


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = type("_HTTPConnection", (_HeadersDeadline, HTTPConnection), {})


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("_HTTPSConnection", (_HeadersDeadline, HTTPSConnection), {})


class _DeadlineAdapter(HTTPAdapter):
    POOLS = {"http": _HTTPPool, "https": _HTTPSPool}

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.POOLS

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        """Through an HTTP(S) proxy (HTTP_PROXY) too; SOCKS pools have connection classes of their own."""
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = self.POOLS
        return manager


def _read_timeout_until(resp: requests.Response, deadline: float) -> None:
    """Shrink the socket's read timeout to the time left: a read stalled at the deadline times out."""
    sock = getattr(resp.raw.connection, "sock", None)
    if sock is not None:
        sock.settimeout(min(max(deadline - time.monotonic(), 0.01), sock.gettimeout() or float("inf")))


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _mkstemp(temp_dir: Path) -> tuple[int, str]:
    # The pid in the name lets a later run tell a dead run's leftovers from a live run's files; the
    # host's tag, that a file in a shared store's tmp/ is another node's (a Ray worker's) to judge.
    return tempfile.mkstemp(dir=temp_dir, prefix=f"{TEMP_PREFIX}{os.getpid()}-{_host_tag()}-", suffix=".part")


def clean_temp_dir(temp_dir: Path) -> int:
    """Remove what killed runs of this machine left in the store's tmp/ (files of live processes,
    and of other machines, stay); returns the count."""
    removed, here = 0, _host_tag()
    for path in Path(temp_dir).glob(f"{TEMP_PREFIX}*.part"):
        parts = path.name[len(TEMP_PREFIX):].split("-")  # pid-host-random, or pid-random (older runs)
        pid = parts[0]
        if len(parts) >= 3 and parts[1] != here:
            continue
        if pid.isdigit() and _alive(int(pid)):
            continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # Windows' os.kill(pid, 0) would terminate the process: keep the file instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
