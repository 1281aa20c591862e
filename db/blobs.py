"""Content-addressed store of original image bytes: images/ab/abcdef....jpg, by sha256."""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}


def extension_for(image_format: str) -> str:
    return EXTENSIONS.get(image_format.upper(), image_format.lower() or "bin")


class BlobStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def relpath(self, sha256: str, image_format: str) -> str:
        return f"images/{sha256[:2]}/{sha256}.{extension_for(image_format)}"

    def path(self, relpath: str) -> Path:
        return self.root / relpath

    def put_bytes(self, data: bytes, image_format: str) -> tuple[str, str]:
        """Store bytes; returns (sha256, relpath). Storing the same bytes twice is a no-op."""
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
        """Move a complete temporary file into the store (atomic rename); returns relpath.

        src should live on the same filesystem as the store (see temp_dir()).
        """
        rel = self.relpath(sha256, image_format)
        dest = self.path(rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            Path(src).unlink(missing_ok=True)
        else:
            os.replace(src, dest)
        return rel

    def temp_dir(self) -> Path:
        """A scratch directory on the store's filesystem, for downloads in flight."""
        d = self.root / "tmp"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def read(self, relpath: str) -> bytes:
        return self.path(relpath).read_bytes()
