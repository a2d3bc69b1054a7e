"""Expected failures: the errors a user can cause and fix (bad input, unreachable server, permissions).

Every error the user can fix derives from :class:`EvsynthError`. Its ``str()`` says what is wrong
and where, in one line (``data/raw/extraction/outcomes.csv, row 4, column 'mean': ...``; or a config
key; or a URL). The Snakemake step wrapper (:func:`evsynth.steps.step`) and the command line print
such errors as that one line, without a traceback; anything else is a bug and is shown with its
traceback, once, in the step's log file.

An error that collects several problems (e.g. every bad cell of an extraction table) returns one
line per problem from :meth:`EvsynthError.messages`.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

# OSError numbers that mean the user's files or folders are missing, unreadable or unwritable
# (as opposed to a bug): shown as one line naming the file.
EXPECTED_ERRNOS = frozenset(
    {errno.ENOENT, errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR,
     errno.EISDIR}
)


class EvsynthError(Exception):
    """Base class of expected failures; ``str()`` is one line naming what is wrong and where."""

    def messages(self) -> list[str]:
        """The problems, one line each.

        Default: the non-empty lines of ``str(self)``, without a heading line such as
        ``3 problem(s) in the extraction tables:`` that only introduces the lines below it.
        """
        lines = [line.strip() for line in str(self).splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].endswith(":"):
            lines = lines[1:]
        return lines or [type(self).__name__]


class InputError(EvsynthError):
    """An input file or folder is missing, unreadable or malformed."""


class OutputError(EvsynthError):
    """An output cannot be written (permissions, read-only or full file system)."""


def is_expected_oserror(exc: BaseException) -> bool:
    """True for an OSError the user can fix: missing file, permission denied, read-only or full disk."""
    return isinstance(exc, OSError) and exc.errno in EXPECTED_ERRNOS


def describe_oserror(exc: OSError, root: str | os.PathLike | None = None) -> str:
    """One line for an OSError: ``<file>: <reason>`` with the file relative to ``root`` when inside it.

    >>> describe_oserror(PermissionError(13, "Permission denied", "/p/results/report.html"), "/p")
    'results/report.html: permission denied'
    """
    reason = (exc.strerror or type(exc).__name__).rstrip(".")
    reason = reason[:1].lower() + reason[1:]
    names = [n for n in (exc.filename, exc.filename2) if n]
    if not names:
        return reason
    where = " -> ".join(relative(n, root) for n in names)
    return f"{where}: {reason}"


def relative(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """``path`` relative to ``root`` (default: the current directory) when it lies inside it."""
    path = Path(os.fsdecode(path))
    base = Path(root) if root is not None else Path.cwd()
    try:
        return str(path.resolve().relative_to(base.resolve())) if path.is_absolute() else str(path)
    except (ValueError, OSError):
        return str(path)


def one_line(exc: BaseException, root: str | os.PathLike | None = None) -> list[str]:
    """The lines to show a user for an expected error (see :func:`is_expected`)."""
    if isinstance(exc, EvsynthError):
        return exc.messages()
    if isinstance(exc, OSError):
        return [describe_oserror(exc, root)]
    text = " ".join(str(exc).split())
    return [f"{type(exc).__name__}: {text}" if text else type(exc).__name__]


def nearest(name: str, known) -> str | None:
    """The known name closest to a misspelt ``name`` (difflib ratio >= 0.6), or None; for messages such as
    "'mards' is not a known outcome (did you mean 'madrs'?)"."""
    import difflib

    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    return close[0] if close else None


def is_expected(exc: BaseException) -> bool:
    """True when ``exc`` is a failure the user can fix (shown without a traceback)."""
    return isinstance(exc, EvsynthError) or is_expected_oserror(exc)
