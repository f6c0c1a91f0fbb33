"""Read a user's text file as UTF-8 whatever the editor did: a BOM is dropped, CRLF line
endings are fine, and a byte that is not UTF-8 is an error naming its line and column."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from ..records.errors import EvalHarnessError

__all__ = ["decode_utf8", "read_bytes", "read_utf8"]

_BOM = b"\xef\xbb\xbf"


def read_bytes(path: Path, error: type[EvalHarnessError], *, fix: str = "check the path") -> bytes:
    """The bytes of ``path`` (decompressed when it ends in ``.gz``); ``error`` when unreadable."""
    if path.is_dir():
        raise error("is a folder, not a file", file=str(path), fix="give the path of a file")
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.name.endswith(".gz") else data
    except FileNotFoundError:
        raise error("file not found", file=str(path), fix=fix) from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip: BadGzipFile, EOFError, zlib.error
        raise error(f"cannot read: {exc}", file=str(path),
                    fix="check the file's permissions (and that a .gz file is gzip)") from None


def decode_utf8(data: bytes, path: Path, error: type[EvalHarnessError]) -> str:
    """``data`` as text, without a leading BOM; ``error`` naming the line and column of the first
    byte that is not UTF-8."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise error(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}",
            file=str(path), line=line,
            fix="save the file as UTF-8, e.g. Excel's CSV UTF-8 or `iconv -f latin1 -t utf-8`",
        ) from None


def read_utf8(path: Path, error: type[EvalHarnessError], *, fix: str = "check the path") -> str:
    """The text of ``path``: UTF-8 with or without a BOM, any line endings."""
    return decode_utf8(read_bytes(path, error, fix=fix), path, error)
