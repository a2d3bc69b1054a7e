"""A request budget shared by every process on the machine (NCBI's E-utilities rate limit).

NCBI allows 3 requests per second per IP without an API key and 10 with one
(https://www.ncbi.nlm.nih.gov/books/NBK25497/, "Frequency, Timing and Registration of E-utility URL
Requests"). Parallel Snakemake jobs run as separate processes, so the budget is kept in a small file
of recent request start times, guarded by an exclusive ``fcntl.flock`` lock, in a shared directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

__all__ = ["RATE_WITHOUT_KEY", "RATE_WITH_KEY", "FileThrottle", "default_throttle_dir"]

RATE_WITHOUT_KEY = 3
RATE_WITH_KEY = 10


def default_throttle_dir() -> Path:
    """``$EVSYNTH_THROTTLE_DIR``, else ``$XDG_CACHE_HOME/evsynth/throttle`` (``~/.cache`` by default)."""
    override = os.environ.get("EVSYNTH_THROTTLE_DIR")
    if override:
        return Path(override)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "evsynth" / "throttle"


class FileThrottle:
    """At most ``max_requests`` request starts in any ``window`` seconds, across processes.

    Parameters
    ----------
    max_requests : int
        Requests allowed per window (3 without an NCBI API key, 10 with one).
    window : float
        Window length in seconds (1.0 for NCBI).
    directory : path-like, optional
        Where the lock and timestamp files live; default :func:`default_throttle_dir`.
    name : str
        Budget name; processes sharing a name share the budget.
    margin : float
        Extra seconds added to the window, so jitter between taking a slot and the request reaching
        the server cannot squeeze ``max_requests + 1`` requests into one server-side window.

    Notes
    -----
    :meth:`wait` takes the lock, drops start times older than the window, and either records ``now``
    (a slot is free) or sleeps until the oldest start leaves the window, still holding the lock so
    waiting processes queue in order. The timestamp file is replaced atomically (temp file +
    ``os.replace``); the lock lives on a separate file whose inode never changes. An unreadable
    timestamp file (e.g. hand-edited) is treated as a full window, never as an empty one.
    """

    def __init__(
        self,
        max_requests: int,
        window: float = 1.0,
        directory: str | os.PathLike[str] | None = None,
        name: str = "eutils",
        margin: float = 0.1,
    ) -> None:
        if max_requests < 1:
            raise ValueError(f"max_requests must be >= 1, got {max_requests}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.max_requests = int(max_requests)
        self.window = float(window)
        self.margin = float(margin)
        self.directory = Path(directory) if directory is not None else default_throttle_dir()
        self.name = name

    @classmethod
    def for_ncbi(cls, api_key: str | None, directory: str | os.PathLike[str] | None = None) -> FileThrottle:
        """The NCBI budget: 3/s without a key, 10/s per key (the key itself is stored only as a hash)."""
        if api_key:
            digest = hashlib.sha256(api_key.encode()).hexdigest()[:16]
            return cls(RATE_WITH_KEY, directory=directory, name=f"eutils-key-{digest}")
        return cls(RATE_WITHOUT_KEY, directory=directory, name="eutils-nokey")

    @property
    def lock_path(self) -> Path:
        return self.directory / f"{self.name}.lock"

    @property
    def stamps_path(self) -> Path:
        return self.directory / f"{self.name}.json"

    def _read(self, now: float) -> list[float]:
        try:
            raw = self.stamps_path.read_text()
        except FileNotFoundError:
            return []
        span = self.window + self.margin
        try:
            stamps = [float(t) for t in json.loads(raw)]
        except (ValueError, TypeError):
            # Unknown state: assume the window is full for one full span, and repair the file.
            stamps = [now] * self.max_requests
            self._write(stamps)
            return stamps
        return [t for t in stamps if now - t < span and t <= now + span]

    def _write(self, stamps: list[float]) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{self.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(stamps, fh)
            os.replace(tmp, self.stamps_path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def wait(self) -> float:
        """Block until a request may start, record it, and return its recorded start time (``time.time()``)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.lock_path, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                while True:
                    now = time.time()
                    stamps = self._read(now)
                    if len(stamps) < self.max_requests:
                        stamps.append(now)
                        self._write(sorted(stamps)[-self.max_requests :])
                        return now
                    delay = min(stamps) + self.window + self.margin - now
                    delay = max(delay, 0.001)
                    time.sleep(delay)
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
