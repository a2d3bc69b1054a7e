"""The wrapper every Snakemake rule script runs in: logging to the rule's log, one-line failures.

A rule script is written as::

    from evsynth.steps import step

    with step(snakemake):
        ...  # read snakemake.input, call evsynth, write snakemake.output

Inside the block, Python logging (level INFO) and warnings go to the rule's log file
(``snakemake.log[0]`` when the rule declares ``log:``). When the block fails:

- an expected failure (:class:`evsynth.errors.EvsynthError`, or a missing, unreadable or unwritable
  file) is written as one line, ``FAILED <step>: <what and where>``, to the log file and as
  ``<step>: <what and where>`` to standard error, and the script exits with status 1 without a
  traceback;
- any other exception is a bug: its traceback is written once, to the log file (to standard error
  when the rule has no log), followed by the ``FAILED`` line, and standard error gets one line that
  names the log file.

``evsynth run`` (:mod:`evsynth.runner`) reads the ``FAILED`` lines back from the log files of the
failed rules and shows them to the user.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Self

from evsynth.errors import is_expected, one_line

#: Start of the lines that carry a failed step's message in its log file.
FAILED_PREFIX = "FAILED "
#: Format of the records written to a step's log file.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: At most this many problem lines go to standard error (all of them go to the log file).
MAX_LINES = 20


def _log_path(snakemake) -> Path | None:
    logs = getattr(snakemake, "log", None) or []
    try:
        first = logs[0]
    except (IndexError, KeyError, TypeError):
        return None
    return Path(str(first)) if str(first) else None


def _step_name(snakemake) -> str:
    name = getattr(snakemake, "rule", None)
    if name:
        return str(name)
    return Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "step"


def _relative_lines(lines: list[str]) -> list[str]:
    """Make absolute paths inside the working directory relative (shorter, same meaning)."""
    cwd = os.getcwd().rstrip(os.sep) + os.sep
    return [line.replace(cwd, "") for line in lines]


class step(contextlib.ContextDecorator):
    """Run a Snakemake rule script's body with logging to its log file and one-line failures.

    Parameters
    ----------
    snakemake : object
        The ``snakemake`` object Snakemake injects into a rule script (anything with ``rule`` and
        ``log`` attributes will do).
    name : str, optional
        The step's name in messages; default ``snakemake.rule``.
    stderr : file, optional
        Where the one-line messages go; default ``sys.stderr`` (looked up when the block fails).
    """

    def __init__(self, snakemake=None, name: str | None = None, stderr=None):
        self.name = name or _step_name(snakemake)
        self.log_path = _log_path(snakemake)
        self._stderr = stderr
        self._handler: logging.Handler | None = None
        self._old_level: int | None = None

    # -- set-up and tear-down ---------------------------------------------------------------
    def __enter__(self) -> Self:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.FileHandler(self.log_path, mode="w", encoding="utf-8")
            handler.setFormatter(logging.Formatter(LOG_FORMAT))
            root = logging.getLogger()
            self._old_level = root.level
            root.setLevel(logging.INFO)
            root.addHandler(handler)
            self._handler = handler
            logging.captureWarnings(True)
            logging.getLogger("evsynth.steps").info("step %s started", self.name)
        return self

    def _close_log(self) -> None:
        if self._handler is None:
            return
        logging.captureWarnings(False)
        root = logging.getLogger()
        root.removeHandler(self._handler)
        self._handler.close()
        if self._old_level is not None:
            root.setLevel(self._old_level)
        self._handler = None

    def _append(self, text: str) -> bool:
        if self.log_path is None:
            return False
        try:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(text)
            return True
        except OSError:
            return False

    def _say(self, line: str) -> None:
        out = self._stderr or sys.stderr
        print(line, file=out, flush=True)

    # -- failure handling -------------------------------------------------------------------
    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            if self._handler is not None:
                logging.getLogger("evsynth.steps").info("step %s done", self.name)
            self._close_log()
            return False
        if issubclass(exc_type, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            self._close_log()
            return False
        self._close_log()
        if is_expected(exc):
            lines = _relative_lines(one_line(exc))
            self._append("".join(f"{FAILED_PREFIX}{self.name}: {line}\n" for line in lines))
            for line in lines[:MAX_LINES]:
                self._say(f"{self.name}: {line}")
            if len(lines) > MAX_LINES:
                where = f" in {self.log_path}" if self.log_path else ""
                self._say(f"{self.name}: ... and {len(lines) - MAX_LINES} more problem(s){where}")
        else:
            text = "".join(traceback.format_exception(exc_type, exc, tb))
            summary = " ".join(f"{exc_type.__name__}: {exc}".split())
            if len(summary) > 300:
                summary = summary[:297] + "..."
            if self._append(f"{text}{FAILED_PREFIX}{self.name}: unexpected error {summary}\n"):
                self._say(f"{self.name}: unexpected error {summary} (traceback in {self.log_path})")
            else:
                self._say(text.rstrip("\n"))
                self._say(f"{self.name}: unexpected error {summary}")
        raise SystemExit(1)


def failures_in_log(path: str | os.PathLike) -> list[str]:
    """The ``<step>: <message>`` lines a failed step left in its log file (empty if none)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return [line[len(FAILED_PREFIX):].rstrip("\n") for line in fh if line.startswith(FAILED_PREFIX)]
    except OSError:
        return []
