"""Response cache shared across runs: SQLite in WAL mode, keyed by a hash of the full request.
A second table keeps embeddings (float32 vectors keyed by model and text), so a rerun or a second
head over the same embedding model computes nothing.

Several runs may share the cache at once: WAL lets readers and one writer work together, each
write is one short ``BEGIN IMMEDIATE`` transaction that waits for the lock (busy timeout, then a
few more tries), and a write that still fails is counted, never raised.

Responses are written in batches: :meth:`ResponseCache.put` buffers, and one transaction stores
the buffer every ``FLUSH_ROWS`` responses or ``FLUSH_S`` seconds, and on :meth:`~ResponseCache.flush`
and :meth:`~ResponseCache.close` (one transaction per response cost ~0.3 ms each). The runner
writes each decision to ``decisions.jsonl`` before it hands the response to the cache, so a crash
loses at most the last batch of cache entries, never a decision (a resumed run does not ask for
decided items again).

Only successful model responses are stored; errors are never cached. The key covers what changes
the answer (model, endpoint, messages, sampling and format parameters, policy version) plus an
optional epoch, and nothing else (no timeouts, retries or concurrency), so an unchanged config
reruns with zero model calls.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..deciders.base import Embedding
from ..records.errors import ConfigError

CACHE_FILE = "responses.sqlite"
BUSY_TIMEOUT_S = 15
"""How long one write waits for another process's write lock (SQLite's busy handler)."""
WRITE_ATTEMPTS = 3
"""Tries of one write transaction that met a locked database even after the busy timeout."""
OPEN_ATTEMPTS = 10
"""Tries of opening a cache another process is creating at the same moment."""
FLUSH_ROWS = 256
"""Buffered responses that make :meth:`ResponseCache.put` store the buffer."""
FLUSH_S = 1.0
"""Age of the last write after which :meth:`ResponseCache.put` stores the buffer."""
_PUT_SQL = "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?)"


def cache_key(payload: dict[str, Any], epoch: int = 0) -> str:
    """sha256 of the canonical JSON of the request payload and the epoch."""
    blob = json.dumps({"request": payload, "epoch": epoch}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
        "created REAL NOT NULL, response TEXT NOT NULL)"
    )


def _m002_vectors(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE vectors (key TEXT PRIMARY KEY, model TEXT NOT NULL, created REAL NOT NULL, "
        "vector BLOB NOT NULL, seconds REAL NOT NULL, tokens INTEGER NOT NULL)"
    )


MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = [
    ("m001_initial", _m001_initial),
    ("m002_vectors", _m002_vectors),
]


class ResponseCache:
    """Get and put model responses (JSON objects) by request key."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / CACHE_FILE
        self.write_failures = 0
        """Answers that could not be stored (the run goes on; they are simply not cached)."""
        self._pending: dict[str, tuple[str, str, float, str]] = {}
        self._flushed = time.monotonic()
        try:
            folder.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
            self._open()
        except (sqlite3.Error, OSError) as exc:
            raise ConfigError(
                f"cannot open the response cache: {exc}", file=str(self.path), field="cache.dir",
                fix="move or delete that file, point cache.dir elsewhere, or run with --no-cache",
            ) from None

    def _open(self) -> None:
        """WAL mode and the migrations, tried again while another process opening the same new
        file holds it: switching a new file to WAL can answer "locked" at once, without
        SQLite's busy handler waiting (bounded: ``OPEN_ATTEMPTS`` tries, ~6 s in all)."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self._migrate()
                return
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or attempt == OPEN_ATTEMPTS - 1:
                    raise
                time.sleep(min(0.05 * 2 ** attempt, 1.0))

    def _migrate(self) -> None:
        """Apply the missing migrations in one write transaction: a second process opening the
        same new cache at the same moment waits, then finds them applied."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied REAL)")
            done = {row[0] for row in self.db.execute("SELECT name FROM _migrations")}
            for name, migrate in MIGRATIONS:
                if name not in done:
                    migrate(self.db)
                    self.db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, time.time()))

    def _write(self, sql: str, rows: Sequence[tuple[Any, ...]], failures: int = 1) -> bool:
        """Run one write transaction, trying again (a bounded number of times) while another
        process holds the write lock past the busy timeout; False when it could not be stored
        (then ``failures`` is added to :attr:`write_failures`)."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.db:
                    self.db.execute("BEGIN IMMEDIATE")
                    self.db.executemany(sql, rows)
                return True
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    break  # e.g. disk full: not worth waiting for
                time.sleep(0.05 * (attempt + 1))
            except sqlite3.Error:
                break
        self.write_failures += failures
        return False

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored response, or None (also when the database cannot be read right now)."""
        pending = self._pending.get(key)
        if pending is not None:
            return json.loads(pending[3])
        try:
            row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
            return json.loads(row[0]) if row else None
        except (sqlite3.Error, ValueError):
            return None

    def get_many(self, keys: Sequence[str]) -> dict[str, str]:
        """The stored responses of those ``keys`` that have one, as JSON text (read them with
        ``json.loads``; a row that cannot be read is the caller's to skip). A database that
        cannot be read right now gives what was found so far."""
        found: dict[str, str] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                found.update(self.db.execute(
                    f"SELECT key, response FROM responses WHERE key IN ({marks})", chunk))
        except sqlite3.Error:
            pass
        found.update((k, self._pending[k][3]) for k in keys if k in self._pending)
        return found

    def put(self, key: str, model: str, response: dict[str, Any]) -> None:
        """Store a response (buffered, see the module docstring); a failure (e.g. the file is
        locked) is counted, never raised: the decision itself is already written."""
        self._pending[key] = (key, model, time.time(), json.dumps(response, ensure_ascii=False))
        if len(self._pending) >= FLUSH_ROWS or time.monotonic() - self._flushed >= FLUSH_S:
            self.flush()

    def flush(self) -> None:
        """Store the buffered responses in one transaction."""
        if self._pending:
            rows = list(self._pending.values())
            self._pending.clear()
            self._write(_PUT_SQL, rows, failures=len(rows))
        self._flushed = time.monotonic()

    def get_vectors(self, keys: Sequence[str]) -> dict[str, Embedding]:
        """Stored embeddings of those ``keys`` that have one."""
        found: dict[str, Embedding] = {}
        try:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start:start + 500])
                marks = ",".join("?" * len(chunk))
                for key, blob, seconds, tokens in self.db.execute(
                        f"SELECT key, vector, seconds, tokens FROM vectors WHERE key IN ({marks})",
                        chunk):
                    found[key] = Embedding(np.frombuffer(blob, dtype=np.float32), seconds, tokens)
        except sqlite3.Error:
            return found
        return found

    def put_vectors(self, model: str, vectors: Mapping[str, Embedding]) -> None:
        """Store embeddings; like :meth:`put`, a failure is counted, never raised."""
        now = time.time()
        self._write("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?, ?, ?, ?)",
                    [(k, model, now, np.asarray(e.vector, dtype=np.float32).tobytes(), e.seconds,
                      e.tokens) for k, e in vectors.items()])

    def __len__(self) -> int:
        self.flush()
        return self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.db.close()
