"""An item's images: files beside the golden set or ``data:`` URLs, checked when the set is read
and sent to vision models as data URLs (nothing is fetched: runs are offline)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from pathlib import Path

__all__ = ["MAX_IMAGE_BYTES", "as_ref", "data_url", "digest", "image_bytes", "image_problem", "sniff"]

MAX_IMAGE_BYTES = 20 * 1024 * 1024
"""The largest image accepted (OpenAI's limit per image)."""
_DATA_URL = re.compile(r"data:(image/[a-z+.-]+);base64,(.*)", re.S)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
          (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def sniff(head: bytes) -> str | None:
    """The media type of an image from its first bytes: PNG, JPEG, GIF or WebP (None: none of
    them, which vision APIs accept)."""
    for magic, mime in _MAGIC:
        if head.startswith(magic):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def _path(ref: str, root: Path | None) -> Path:
    path = Path(ref)
    return path if path.is_absolute() or root is None else root / path


def image_problem(ref: str, root: Path | None) -> str | None:
    """What is wrong with image ``ref`` (a path, relative to ``root``, or a data URL), or None."""
    if ref.startswith(("http://", "https://")):
        return "is a web address; runs are offline: download it and give its path"
    if ref.startswith("data:"):
        found = _DATA_URL.fullmatch(ref)
        if not found:
            return "is not a base64 data URL of an image (data:image/png;base64,...)"
        try:
            data = base64.b64decode(found.group(2), validate=True)
        except (binascii.Error, ValueError):
            return "is a data URL whose base64 does not decode"
        actual = sniff(data[:16])
        if actual is None:
            return "is a data URL of no PNG, JPEG, GIF or WebP image"
        if actual != found.group(1):
            return f"is a data URL that says {found.group(1)} but holds {actual}"
        if len(data) > MAX_IMAGE_BYTES:
            return f"is over {MAX_IMAGE_BYTES // 2**20} MB"
        return None
    path = _path(ref, root)
    try:
        if not path.is_file():
            return f"is no file (looked for {path})"
        if path.stat().st_size > MAX_IMAGE_BYTES:
            return f"is over {MAX_IMAGE_BYTES // 2**20} MB"
        with open(path, "rb") as fh:
            if sniff(fh.read(16)) is None:
                return "is no PNG, JPEG, GIF or WebP image"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    return None


def image_bytes(ref: str, root: Path | None) -> bytes:
    """The image itself (checked by :func:`image_problem` when the golden set was read)."""
    found = _DATA_URL.fullmatch(ref)
    if found:
        return base64.b64decode(found.group(2))
    return _path(ref, root).read_bytes()


def data_url(ref: str, root: Path | None) -> str:
    """Image ``ref`` as a ``data:`` URL, as OpenAI-style ``image_url`` parts take it."""
    if ref.startswith("data:"):
        return ref
    data = image_bytes(ref, root)
    return f"data:{sniff(data[:16])};base64,{base64.b64encode(data).decode()}"


def digest(ref: str, root: Path | None) -> bytes:
    """sha256 of the image's bytes (what identifies it, wherever it is stored)."""
    return hashlib.sha256(image_bytes(ref, root)).digest()


def as_ref(value: object) -> object:
    """A table's image value as a reference: a Hugging Face or Parquet image struct
    (``{bytes, path}``) becomes a data URL (or its path, without bytes); the rest is unchanged."""
    if isinstance(value, dict):
        data = value.get("bytes")
        if isinstance(data, bytes) and data:
            mime = sniff(data[:16]) or "application/octet-stream"
            return f"data:{mime};base64,{base64.b64encode(data).decode()}"
        return value.get("path") or value
    return value
