"""``evsynth run``: the pipeline as the README's ``make report`` runs it — quiet, one line per failure.

Runs Snakemake (``--cores N --rerun-incomplete``, plus any ``--config``/``--configfile`` items and
targets) in the project folder, with Snakemake's full output in ``logs/snakemake.log``. When all
goes well it prints one summary line. When something fails it prints one line per failure saying
what is wrong and where, and exits non-zero:

- a configuration error: ``config: analysis.method: 'REMLX' is not one of [...]``;
- a config file that is not YAML: ``config.yaml, line 3, column 5: ...``;
- a failed step: its one-line message (see :mod:`evsynth.steps`) and its log file;
- a missing input file, a folder that cannot be written, a step that did not write its outputs;
- a folder locked by another run that is still alive.

A run killed at any moment is recovered by running the same command again: Snakemake's locks left
by a process that is no longer alive are removed (the lock is stale when no Snakemake process is
running in the folder) and incomplete outputs are rebuilt. Two runs in one folder do not run at
once: each holds an exclusive ``flock`` on ``.snakemake/evsynth-run.pid`` (which records its PID),
and a second run stops with a message naming the first.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Self

import yaml

from evsynth.errors import EvsynthError, describe_oserror
from evsynth.steps import failures_in_log

LOG = "logs/snakemake.log"
PID_FILE = ".snakemake/evsynth-run.pid"
LOCK_DIR = ".snakemake/locks"
MAX_LINES = 20
DERIVED = ("data/processed", "results")  # where steps write (stale temporaries are removed here)


class RunLockedError(EvsynthError):
    """Another ``evsynth run`` (or Snakemake) is working in the same folder."""


# -- the run lock -----------------------------------------------------------------------------
class RunLock:
    """An exclusive, non-blocking ``flock`` on ``.snakemake/evsynth-run.pid`` holding our PID.

    The kernel releases a ``flock`` when its holder dies, so a killed run never leaves this lock
    behind; it only keeps two live runs apart.
    """

    def __init__(self, root: Path):
        self.path = Path(root) / PID_FILE
        self._fd: int | None = None

    def __enter__(self) -> Self:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockedError(
                    f"another run (pid {holder}) is working in {self.path.parent.parent}; "
                    f"wait for it to finish (or stop it) and run again") from None
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # releases the flock
            self._fd = None


# -- stale Snakemake locks --------------------------------------------------------------------
def _is_snakemake(argv: list[str]) -> bool:
    """True for a Snakemake main process (``snakemake ...``, ``python .../snakemake``, ``-m snakemake``)."""
    head = argv[:3]
    if any(os.path.basename(a) == "snakemake" for a in head):
        return True
    return any(a == "-m" and i + 1 < len(argv) and argv[i + 1] == "snakemake" for i, a in enumerate(head))


def snakemake_pids(root: Path) -> list[int] | None:
    """PIDs of live Snakemake processes whose working directory is ``root`` (None: cannot tell)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    root = Path(root).resolve()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [a.decode("utf-8", "replace") for a in (entry / "cmdline").read_bytes().split(b"\0") if a]
            if not _is_snakemake(argv) or Path(os.readlink(entry / "cwd")) != root:
                continue
            status = (entry / "status").read_text().splitlines()
            state = next((ln for ln in status if ln.startswith("State:")), "")
        except OSError:
            continue
        if "zombie" not in state:
            found.append(int(entry.name))
    return sorted(found)


_ATOMIC_TEMP = re.compile(r"^\..+\.[A-Za-z0-9_]{8}\.tmp$")  # evsynth.io.atomic_path's temporary files


def clear_stale_temporaries(root: Path, folders: tuple[str, ...] = DERIVED) -> int:
    """Delete temporary files a killed step left in the derived folders; return how many.

    Call only while holding :class:`RunLock` with no Snakemake process alive in ``root``.
    """
    removed = 0
    for folder in folders:
        for dirpath, _dirs, files in os.walk(Path(root) / folder):
            for name in files:
                if _ATOMIC_TEMP.match(name):
                    with contextlib.suppress(OSError):
                        os.unlink(os.path.join(dirpath, name))
                        removed += 1
    return removed


def clear_stale_locks(root: Path) -> bool:
    """Remove Snakemake's locks when no Snakemake process is alive in ``root``; True if removed.

    Call only while holding :class:`RunLock`, so that no other ``evsynth run`` can be starting.
    Where live processes cannot be listed (no ``/proc``), the locks are left alone.
    """
    locks = Path(root) / LOCK_DIR
    if not locks.is_dir() or not any(locks.iterdir()):
        return False
    pids = snakemake_pids(root)
    if pids is None or pids:
        return False
    shutil.rmtree(locks, ignore_errors=True)
    return True


# -- pre-flight checks ------------------------------------------------------------------------
def check_yaml(paths: list[Path], root: Path) -> list[str]:
    """One line per config file that is missing or not valid YAML (file, line, column, problem)."""
    problems = []
    for path in paths:
        shown = _rel(path, root)
        try:
            with open(path, encoding="utf-8") as fh:
                yaml.safe_load(fh)
        except OSError as exc:
            problems.append(describe_oserror(exc, root))
        except UnicodeDecodeError as exc:
            problems.append(f"{shown}, byte {exc.start + 1}: not UTF-8 text")
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            problems.append(f"{shown}{where}: not valid YAML ({what})")
    return problems


def _rel(path: Path | str, root: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


# -- reading Snakemake's output ---------------------------------------------------------------
_ERROR_IN_RULE = re.compile(r"^Error in rule (\w+):\s*$")
_BLOCK_FIELD = re.compile(r"^\s{4}(\w+):\s?(.*)$")


def _rule_errors(lines: list[str]) -> list[tuple[str, dict[str, str]]]:
    """The ``Error in rule X:`` blocks: rule name and fields (log, output, ...)."""
    blocks = []
    for i, line in enumerate(lines):
        m = _ERROR_IN_RULE.match(line)
        if not m:
            continue
        fields: dict[str, str] = {}
        for follow in lines[i + 1:]:
            f = _BLOCK_FIELD.match(follow)
            if not f:
                break
            fields[f.group(1)] = f.group(2)
        blocks.append((m.group(1), fields))
    return blocks


def _log_files(field: str) -> list[str]:
    field = re.sub(r"\s*\(check log file\(s\) for error details\)\s*$", "", field)
    return [p.strip() for p in field.split(",") if p.strip()]


def diagnose(text: str, root: Path, log: str = LOG) -> list[str]:
    """One line per failure found in Snakemake's output ``text`` (a run that failed)."""
    lines = text.splitlines()
    out: list[str] = []

    # configuration rejected by the schema (the Snakefile raises "invalid configuration:")
    for i, line in enumerate(lines):
        if line.strip() == "invalid configuration:":
            for follow in lines[i + 1:]:
                if not follow.strip() or follow.startswith((" ", "\t")):
                    break
                out.append(follow.strip())
    if any("Config file is not valid JSON or YAML" in ln for ln in lines) and not out:
        out.append("config: a config file is not valid YAML")

    if any(ln.startswith("Error: Directory cannot be locked") for ln in lines):
        out.append(f"another Snakemake process is working in {root}; wait for it to finish (or stop it) "
                   f"and run again")

    # missing inputs: "Missing input files for rule X:" ... "affected files:" + indented paths
    for i, line in enumerate(lines):
        m = re.match(r"^Missing input files for rule (\w+):", line)
        if not m:
            continue
        files = []
        collecting = False
        for follow in lines[i + 1:]:
            if follow.strip() == "affected files:":
                collecting = True
                continue
            if collecting:
                if follow.startswith("        ") and follow.strip():
                    files.append(follow.strip())
                    continue
                break
            if not follow.startswith(" "):
                break
        for f in files or ["(see the log)"]:
            out.append(f"{f}: missing input file (needed by step {m.group(1)})")

    # steps that failed
    for rule, fields in _rule_errors(lines):
        logs = _log_files(fields.get("log", ""))
        found = []
        for lf in logs:
            found += [(msg, lf) for msg in failures_in_log(root / lf)]
        if found:
            shown = [f"{msg} (traceback in {lf})" if msg.startswith(f"{rule}: unexpected error")
                     else f"{msg} (log: {lf})" for msg, lf in found]
            out += shown[:MAX_LINES]
            if len(shown) > MAX_LINES:
                out.append(f"{rule}: ... and {len(shown) - MAX_LINES} more problem(s) in {found[0][1]}")
            continue
        hint = _last_exception(lines, rule)
        where = logs[0] if logs else log
        out.append(f"{rule}: failed{': ' + hint if hint else ''} (log: {where})")

    # steps that ended without writing all their outputs
    for rule, files in _missing_outputs(lines):
        out.append(f"{rule}: finished without writing {', '.join(files) or 'its outputs'} (log: {log})")

    # permission problems met by Snakemake itself (creating folders, touching outputs, its metadata)
    for line in lines:
        m = re.search(r"(?:PermissionError|OSError): \[Errno (\d+)\] ([^:]+): '([^']+)'", line)
        if m and int(m.group(1)) in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC):
            msg = f"{_rel(m.group(3), root)}: {m.group(2).lower()}"
            if not any(msg.split(":")[0] in o for o in out):
                out.append(msg)

    if not out:  # an error while reading the Snakefile: "XError in file "...", line N:" + the message
        for i, line in enumerate(lines):
            m = re.match(r'^(\w+) in file "(.+)", line (\d+):$', line)
            if m and m.group(1) not in ("RuleException", "CalledProcessError"):
                detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
                if m.group(1) == "WorkflowError" and detail:  # raised by the Snakefile for the user: as is
                    out.append(detail)
                else:
                    out.append(f"{_rel(m.group(2), root)}, line {m.group(3)}: {m.group(1)}: {detail}")
    if not out:
        last = next((ln.strip() for ln in reversed(lines) if _looks_like_error(ln)), "")
        out.append(f"snakemake failed{': ' + last if last else ''} (log: {log})")
    root_prefix = str(Path(root).resolve()).rstrip(os.sep) + os.sep
    return list(dict.fromkeys(line.replace(root_prefix, "") for line in out))


def _missing_outputs(lines: list[str]) -> list[tuple[str, list[str]]]:
    """``MissingOutputException`` blocks: the rule and the outputs its job did not write."""
    found = []
    for i, line in enumerate(lines):
        m = re.match(r"^MissingOutputException in rule (\w+)", line)
        if not m:
            continue
        files = []
        for follow in lines[i + 1:]:
            ends = follow.startswith(("Shutting down", "Exiting", "Removing", "["))
            if ends or _ERROR_IN_RULE.match(follow):
                break
            f = re.match(r"^(\S+) \(missing locally", follow)
            if f:
                files.append(f.group(1))
        found.append((m.group(1), files))
    return found


def _looks_like_error(line: str) -> bool:
    s = line.strip()
    return bool(re.match(r"^[A-Z]\w*(Error|Exception)\b", s)) or s.startswith("Error")


def _last_exception(lines: list[str], rule: str) -> str:
    """The last ``SomeError: message`` line before the rule's error block (an unwrapped script)."""
    end = next((i for i, ln in enumerate(lines) if ln.strip() == f"Error in rule {rule}:"), len(lines))
    for i in range(end - 1, -1, -1):
        s = lines[i].strip()
        if re.match(r"^[\w.]*(Error|Exception)(\s|:|$)", s) and not s.startswith(("CalledProcessError",
                                                                                    "RuleException")):
            s = re.sub(r"^(?:\w+\.)+(?=\w+(?:Error|Exception))", "", s)  # module path of the class
            if s.endswith(":") and i + 1 < end and lines[i + 1].startswith(" "):
                s = s.split(": ", 1)[0] + ": " + lines[i + 1].strip()  # a heading: show the first item
            return s
    return ""


def summary(text: str) -> str:
    """One line for a successful run."""
    if "Nothing to be done" in text:
        return "evsynth run: outputs are up to date (nothing to do)"
    counts = re.findall(r"^(\d+) of (\d+) steps \(100%\) done", text, flags=re.MULTILINE)
    steps = f"{counts[-1][0]} step(s) run" if counts else "done"
    return f"evsynth run: {steps}; log: {LOG}"


# -- running Snakemake ------------------------------------------------------------------------
def snakemake_command(cores: int, config: list[str], configfiles: list[str], targets: list[str],
                      extra: list[str] | None = None) -> list[str]:
    """The Snakemake command line ``evsynth run`` uses."""
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "snakemake"]
    cmd += ["--cores", str(cores), "--rerun-incomplete", "--nocolor"]
    if configfiles:
        cmd += ["--configfile", *configfiles]
    if config:
        cmd += ["--config", *config]
    cmd += list(extra or [])
    if targets:
        cmd += ["--", *targets]
    return cmd


def _run_child(cmd: list[str], root: Path, log: Path) -> int:
    """Run ``cmd`` in ``root`` with its output in ``log``; SIGTERM/SIGHUP are passed on to it.

    ^C (SIGINT) reaches Snakemake from the terminal directly (same process group); the runner
    then waits for it to stop its jobs and clean up instead of dying first.
    """
    with open(log, "w", encoding="utf-8") as fh:
        child = subprocess.Popen(cmd, cwd=root, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def forward(signum, _frame):
            child.send_signal(signum)

        old = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGHUP)}
        old[signal.SIGINT] = signal.signal(signal.SIGINT, lambda _s, _f: None)
        try:
            return child.wait()
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def run_pipeline(root: Path, cores: int, config: list[str], configfiles: list[str], targets: list[str],
                 out=None, err=None) -> int:
    """Run the pipeline in ``root``: one summary line, or one line per failure; return the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    root = Path(root).resolve()
    if not (root / "Snakefile").is_file() and not (root / "workflow" / "Snakefile").is_file():
        print(f"evsynth run: no Snakefile in {root}", file=err)
        return 2
    files = [root / "config.yaml"] if (root / "config.yaml").is_file() else []
    files += [Path(f) if Path(f).is_absolute() else root / f for f in configfiles]
    problems = check_yaml(list(dict.fromkeys(f.resolve() for f in files)), root)
    if problems:
        for p in problems:
            print(p, file=err)
        return 1
    log = root / LOG
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with RunLock(root):
            if snakemake_pids(root) == []:
                clear_stale_locks(root)
                clear_stale_temporaries(root)
            status = _run_child(snakemake_command(cores, config, configfiles, targets), root, log)
            text = log.read_text(encoding="utf-8", errors="replace")
    except EvsynthError as exc:
        print(f"evsynth run: {exc}", file=err)
        return 1
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.ENOENT):
            print(f"evsynth run: {describe_oserror(exc, root)}", file=err)
            return 1
        raise
    if status == 0:
        print(summary(text), file=out)
        return 0
    if status < 0 or status in (130, 143):
        print(f"evsynth run: interrupted; run the same command again to finish (log: {LOG})", file=err)
        return 130
    for line in diagnose(text, root):
        print(line, file=err)
    return 1
