"""Deterministic, atomic file output.

Every derived file is written to a temporary file in the same folder and renamed into place,
so a run killed at any moment leaves either the old file or the new one, never half of one.
Tables are written with a fixed column order, ``\\n`` line ends and a fixed float format so that
the same inputs give the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

FLOAT_FORMAT = "%.10g"


def current_umask() -> int:
    """The process's file-mode creation mask, read without changing it where the system allows.

    Linux reports it in ``/proc/self/status`` (``Umask:``); elsewhere it is read by setting and
    restoring it at once (``os.umask`` has no read-only form).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of an ordinary new file under the current umask (0o644 with umask 022)."""
    return 0o666 & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The file gets the permissions of an ordinary file under the user's umask (``tempfile.mkstemp``
    alone would leave it 0600). A folder that cannot be written is reported naming ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise type(exc)(exc.errno, exc.strerror, str(path)) from None
    try:
        os.fchmod(fd, file_mode())
    finally:
        os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, file_mode())  # the block may have replaced the file
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a DataFrame as CSV atomically with deterministic formatting (no index)."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, lineterminator="\n", float_format=FLOAT_FORMAT, encoding="utf-8")


def write_json(path: str | os.PathLike, obj) -> None:
    """Write JSON atomically: sorted keys, two-space indent, NaN written as null."""
    write_text(path, json.dumps(_clean(obj), indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _clean(obj):
    """Make ``obj`` JSON-safe: NaN/inf -> None, numpy scalars -> Python numbers."""
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_clean(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def read_json(path: str | os.PathLike):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
