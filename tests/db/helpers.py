"""Small builders for catalog tests: a source, an image and faces without any real picture."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from db.types import NewFace, NewImage, NewSource


def add_faces(cat, n: int, label: str | None = "happy", source: str = "test", split_hint: str | None = None,
              crop_bytes: int = 64) -> list[int]:
    """n faces, each on its own image, in one source; returns the face ids."""
    sid = cat.add_source(NewSource(kind="dataset", name=source))
    images, faces = [], []
    for i in range(n):
        data = f"{source}-{i}".encode()
        sha, rel = cat.blobs.put_bytes(data, "PNG")
        images.append(NewImage(sha256=sha, blob_path=rel, width=48, height=48, format="PNG", source_id=sid))
    refs = cat.add_images(images)
    for i, ref in enumerate(refs):
        crop = hashlib.sha256(f"crop{source}{i}".encode()).digest() * (crop_bytes // 32 + 1)
        faces.append(
            (ref.id, NewFace(bbox=(0, 0, 48, 48), crop_png=crop[:crop_bytes], crop_size=100,
                             phash=f"{i:016x}", pixel_sha256=hashlib.sha256(crop).hexdigest(),
                             label=label, split_hint=split_hint))
        )
    return cat.add_faces(faces)


def from_a_newer_facecat(directory: Path, revision: str = "0099_from_the_future") -> None:
    """Make a SQLite catalog look made by a newer facecat (a schema revision this one does not know)."""
    con = sqlite3.connect(Path(directory) / "catalog.sqlite")
    con.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    con.commit()
    con.close()
