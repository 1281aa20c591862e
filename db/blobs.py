"""Content-addressed store of original image bytes: images/ab/abcdef....jpg, by sha256.

One small interface (BlobStore), two kinds behind it:

- DirectoryStore: a local or shared directory (NFS), as every catalog had so far; a SQLite catalog
  directory keeps its blobs beside the database unless --store says otherwise.
- ObjectStore: object storage through fsspec, `--store s3://bucket/prefix` (s3fs). Endpoint and
  credentials come from the usual environment variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
  AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, or an instance role), on every node that reads or writes.

Every reader gets bytes the same way: `read(relpath)` or `open(relpath)`. `path(relpath)` (a file
on disk) exists for a directory store only. Writes are atomic: a directory store writes a
temporary file and renames it into place; an object store's PUT is atomic by itself (an object
appears whole or not at all). Stores pickle small (a directory, or a URL): Ray workers get them.
"""
from __future__ import annotations

import hashlib
import io
import os
import tempfile
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import BinaryIO

from db.errors import CatalogError

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}
# How long an object store may take to answer before the command says it cannot be reached.
CONNECT_TIMEOUT_S = 5


class BlobStoreError(CatalogError):
    """The blob store cannot be used (unreachable, no such bucket, no permission): one line."""


def extension_for(image_format: str) -> str:
    return EXTENSIONS.get(image_format.upper(), image_format.lower() or "bin")


def relpath_for(sha256: str, image_format: str) -> str:
    return f"images/{sha256[:2]}/{sha256}.{extension_for(image_format)}"


class BlobStore(ABC):
    """Where originals live. relpaths (images/ab/abcd....jpg) are the same in every kind of store."""

    is_local: bool  # a directory: path() gives a file on this machine

    def relpath(self, sha256: str, image_format: str) -> str:
        return relpath_for(sha256, image_format)

    @property
    @abstractmethod
    def display(self) -> str:
        """What to show a user: the directory or the URL."""

    @property
    def local_root(self) -> Path | None:
        """The directory of a directory store; None for an object store."""
        return None

    def __str__(self) -> str:
        return self.display

    @abstractmethod
    def read(self, relpath: str) -> bytes:
        """The blob's bytes; FileNotFoundError when it is not in the store."""

    def open(self, relpath: str) -> BinaryIO:
        """The blob as a binary file object (what Pillow's Image.open takes)."""
        return io.BytesIO(self.read(relpath))

    @abstractmethod
    def exists(self, relpath: str) -> bool: ...

    @abstractmethod
    def put_bytes(self, data: bytes, image_format: str) -> tuple[str, str]:
        """Store bytes; returns (sha256, relpath). Storing the same bytes twice is a no-op."""

    @abstractmethod
    def put_file(self, src: Path, sha256: str, image_format: str) -> str:
        """Move a complete local temporary file into the store (src is gone afterwards); returns relpath."""

    @abstractmethod
    def temp_dir(self) -> Path:
        """A local scratch directory for downloads in flight (for a directory store, on its filesystem)."""

    def path(self, relpath: str) -> Path:
        raise BlobStoreError(f"the blobs are in {self.display}, not in a directory: read them with read() or open()")

    @abstractmethod
    def check(self, create: bool = True) -> None:
        """Reachable and writable, else a BlobStoreError with one line (with create, a missing
        directory is made; a missing bucket never is)."""


class DirectoryStore(BlobStore):
    is_local = True

    def __init__(self, root: Path):
        self.root = Path(root)

    def __reduce__(self):
        return (DirectoryStore, (self.root,))

    @property
    def display(self) -> str:
        return str(self.root)

    @property
    def local_root(self) -> Path:
        return self.root

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def read(self, relpath: str) -> bytes:
        return self.path(relpath).read_bytes()

    def open(self, relpath: str) -> BinaryIO:
        return open(self.path(relpath), "rb")

    def exists(self, relpath: str) -> bool:
        return self.path(relpath).exists()

    def put_bytes(self, data: bytes, image_format: str) -> tuple[str, str]:
        sha = hashlib.sha256(data).hexdigest()
        rel = self.relpath(sha, image_format)
        dest = self.path(rel)
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, dest)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return sha, rel

    def put_file(self, src: Path, sha256: str, image_format: str) -> str:
        """src should live on the same filesystem as the store (see temp_dir()): the move is a rename."""
        rel = self.relpath(sha256, image_format)
        dest = self.path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            Path(src).unlink(missing_ok=True)
        else:
            os.replace(src, dest)
        return rel

    def temp_dir(self) -> Path:
        d = self.root / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def check(self, create: bool = True) -> None:
        root = self.root
        if root.exists() and not root.is_dir():
            raise BlobStoreError(f"blob store {root} is a file, not a directory")
        if create:
            try:
                root.mkdir(parents=True, exist_ok=True)
            except FileExistsError:
                raise BlobStoreError(f"blob store {root} is a file, not a directory") from None
            except OSError as exc:
                raise BlobStoreError(f"cannot create blob store {root}: {exc.strerror}") from None
        check_writable_directory(root)


def check_writable_directory(d: Path) -> None:
    # os.access is wrong for root and on some mounts: try to create a file.
    probe = d / f".facecat-write-test-{os.getpid()}"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise BlobStoreError(f"catalog directory {d} is not writable: {exc.strerror}") from None


class ObjectStore(BlobStore):
    """Blobs as objects under URL (s3://bucket/prefix), through fsspec."""

    is_local = False

    def __init__(self, url: str):
        self.url = url.rstrip("/")
        self.protocol, _, self.base = self.url.partition("://")
        if not self.base:
            raise BlobStoreError(f"blob store URL {url!r} names no bucket (e.g. s3://bucket/prefix)")
        self.bucket = self.base.split("/", 1)[0]
        self._fs, self._pid = None, None

    def __reduce__(self):
        return (ObjectStore, (self.url,))  # the fsspec client is made again where it is used

    @property
    def display(self) -> str:
        return self.url

    @property
    def fs(self):
        # Made again in a forked worker: an async client (s3fs's event loop) does not survive fork.
        if self._fs is None or self._pid != os.getpid():
            try:
                import fsspec
                self._fs, self._pid = fsspec.filesystem(self.protocol, **_options(self.protocol)), os.getpid()
            except ImportError as exc:
                raise BlobStoreError(f"the blob store {self.url} needs {exc.name or 'its fsspec backend'}: "
                                     "pip install 'facecat[cluster]'") from None
            except ValueError as exc:  # fsspec: "Protocol not known"
                raise BlobStoreError(f"blob store {self.url}: {exc}") from None
        return self._fs

    def _key(self, relpath: str) -> str:
        return f"{self.base}/{relpath}"

    def read(self, relpath: str) -> bytes:
        return self._call(self.fs.cat_file, self._key(relpath))

    def exists(self, relpath: str) -> bool:
        return self._call(self.fs.exists, self._key(relpath))

    def put_bytes(self, data: bytes, image_format: str) -> tuple[str, str]:
        sha = hashlib.sha256(data).hexdigest()
        rel = self.relpath(sha, image_format)
        if not self.exists(rel):
            self._call(self.fs.pipe_file, self._key(rel), data)  # one PUT: the object appears whole
        return sha, rel

    def put_file(self, src: Path, sha256: str, image_format: str) -> str:
        rel = self.relpath(sha256, image_format)
        try:
            if not self.exists(rel):
                self._call(self.fs.put_file, str(src), self._key(rel))
        finally:
            Path(src).unlink(missing_ok=True)
        return rel

    def temp_dir(self) -> Path:
        d = Path(tempfile.gettempdir()) / "facecat-downloads"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def check(self, create: bool = True) -> None:
        """The bucket is there and takes a write (a probe object, removed at once)."""
        try:
            self.fs.info(self.bucket)
        except FileNotFoundError:
            raise BlobStoreError(f"blob store {self.url}: no bucket {self.bucket!r} (create it first)") from None
        except PermissionError as exc:
            raise BlobStoreError(f"blob store {self.url}: access denied ({_one_line(exc)}); check the credentials "
                                 "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)") from None
        except BlobStoreError:
            raise
        except Exception as exc:  # noqa: BLE001 (botocore, aiohttp: many kinds, one message)
            raise BlobStoreError(f"cannot reach blob store {self.url}: {_one_line(exc)}") from None
        probe = self._key(f".facecat-write-test-{uuid.uuid4().hex}")
        try:
            self.fs.pipe_file(probe, b"")
            self.fs.rm_file(probe)
        except Exception as exc:  # noqa: BLE001
            raise BlobStoreError(f"blob store {self.url} is not writable: {_one_line(exc)}") from None

    def _call(self, fn, *args):
        """Run an fsspec call; a missing object stays FileNotFoundError, anything else is one line."""
        try:
            return fn(*args)
        except FileNotFoundError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise BlobStoreError(f"blob store {self.url}: {_one_line(exc)}") from None


def _options(protocol: str) -> dict:
    if protocol in ("s3", "s3a"):
        # botocore reads the credentials itself (environment, config files, instance role); the
        # endpoint is passed explicitly so that fsspec's client cache keys on it. The waiting is
        # bounded, so an unreachable endpoint is an error in seconds rather than minutes of retries.
        return {"endpoint_url": os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None,
                "config_kwargs": {"connect_timeout": CONNECT_TIMEOUT_S, "read_timeout": 60,
                                  "retries": {"max_attempts": 3, "mode": "standard"}}}
    return {}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def open_store(location: str | os.PathLike) -> BlobStore:
    """A store for a directory or an fsspec URL (s3://bucket/prefix)."""
    text = os.fspath(location)
    if "://" in text and not text.startswith("file://"):
        return ObjectStore(text)
    return DirectoryStore(Path(text.removeprefix("file://")))
