"""evsynth.steps.step: a rule script logs to its log file; failures are one line, bugs a traceback once."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import textwrap
import warnings
from types import SimpleNamespace

import pytest

from evsynth.errors import EvsynthError, InputError
from evsynth.steps import FAILED_PREFIX, failures_in_log, step


def fake_snakemake(tmp_path, rule="extract", log=True):
    """What a rule script sees as ``snakemake``: the rule name and its declared log files."""
    return SimpleNamespace(rule=rule, log=[str(tmp_path / "logs" / f"{rule}.log")] if log else [],
                           input=[], output=[], params=SimpleNamespace())


def test_logging_and_warnings_go_to_the_log_file(tmp_path):
    smk = fake_snakemake(tmp_path)
    with step(smk):
        logging.getLogger("evsynth.analyses").info("pooled %d analyses", 7)
        warnings.warn("few studies in window d28", UserWarning, stacklevel=1)
    text = (tmp_path / "logs" / "extract.log").read_text()
    assert "INFO evsynth.analyses: pooled 7 analyses" in text
    assert "UserWarning: few studies in window d28" in text
    assert "step extract done" in text
    assert FAILED_PREFIX not in text
    files = [getattr(h, "baseFilename", None) for h in logging.getLogger().handlers]
    assert str(tmp_path / "logs" / "extract.log") not in files  # the handler was removed


def test_expected_error_is_one_line_in_log_and_stderr_and_exit_1(tmp_path):
    smk = fake_snakemake(tmp_path)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info, step(smk, stderr=err):
        raise InputError("data/raw/extraction/outcomes.csv, row 4, column 'mean': 'abc' is not a number")
    assert exit_info.value.code == 1
    line = "extract: data/raw/extraction/outcomes.csv, row 4, column 'mean': 'abc' is not a number"
    assert err.getvalue() == line + "\n"
    log = tmp_path / "logs" / "extract.log"
    assert log.read_text().splitlines()[-1] == FAILED_PREFIX + line
    assert failures_in_log(log) == [line]
    assert "Traceback" not in log.read_text()


def test_several_problems_one_line_each_without_heading(tmp_path):
    class ManyProblems(EvsynthError):
        pass

    err = io.StringIO()
    with pytest.raises(SystemExit), step(fake_snakemake(tmp_path), stderr=err):
        raise ManyProblems("2 problem(s) in the extraction tables:\n  a.csv, row 2, column 'n': negative\n"
                           "  b.csv, row 9, column 'sd': not a number")
    assert err.getvalue().splitlines() == ["extract: a.csv, row 2, column 'n': negative",
                                           "extract: b.csv, row 9, column 'sd': not a number"]


def test_absolute_paths_in_the_working_directory_are_shown_relative(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    err = io.StringIO()
    with pytest.raises(SystemExit), step(fake_snakemake(tmp_path), stderr=err):
        raise InputError(f"{tmp_path}/data/raw/extraction/arms.csv, row 3: unknown study 'Nobody2099'")
    assert err.getvalue() == "extract: data/raw/extraction/arms.csv, row 3: unknown study 'Nobody2099'\n"


@pytest.mark.parametrize(("exc", "expected"), [
    (FileNotFoundError(2, "No such file or directory", "data/raw/screening/decisions.csv"),
     "screen: data/raw/screening/decisions.csv: no such file or directory"),
    (PermissionError(13, "Permission denied", "results/report.html"),
     "screen: results/report.html: permission denied"),
])
def test_missing_and_unwritable_files_are_expected(tmp_path, exc, expected):
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info, step(fake_snakemake(tmp_path, rule="screen"), stderr=err):
        raise exc
    assert exit_info.value.code == 1
    assert err.getvalue() == expected + "\n"


def test_unexpected_error_traceback_once_in_log_one_line_on_stderr(tmp_path):
    err = io.StringIO()
    with pytest.raises(SystemExit), step(fake_snakemake(tmp_path, rule="pool"), stderr=err):
        {}["missing key"]  # a bug
    log = (tmp_path / "logs" / "pool.log").read_text()
    assert log.count("Traceback (most recent call last)") == 1
    assert "KeyError: 'missing key'" in log
    assert err.getvalue() == (f"pool: unexpected error KeyError: 'missing key' "
                              f"(traceback in {tmp_path}/logs/pool.log)\n")
    failures = failures_in_log(tmp_path / "logs" / "pool.log")
    assert failures == ["pool: unexpected error KeyError: 'missing key'"]


def test_without_a_log_the_traceback_goes_to_stderr(tmp_path):
    err = io.StringIO()
    with pytest.raises(SystemExit), step(fake_snakemake(tmp_path, log=False), stderr=err):
        raise ZeroDivisionError("division by zero")
    lines = err.getvalue().splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "extract: unexpected error ZeroDivisionError: division by zero"
    assert not (tmp_path / "logs").exists()


def test_keyboard_interrupt_passes_through(tmp_path):
    with pytest.raises(KeyboardInterrupt), step(fake_snakemake(tmp_path)):
        raise KeyboardInterrupt


def test_works_as_a_decorator(tmp_path):
    err = io.StringIO()

    @step(fake_snakemake(tmp_path, rule="figures"), stderr=err)
    def main():
        raise InputError("data/processed/pooled.csv: empty file")

    with pytest.raises(SystemExit):
        main()
    assert err.getvalue() == "figures: data/processed/pooled.csv: empty file\n"


def test_a_rule_script_process_exits_1_without_traceback(tmp_path):
    """As Snakemake runs it: a separate Python process, whose stderr the user would otherwise see."""
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(f"""
        from types import SimpleNamespace
        from evsynth.errors import InputError
        from evsynth.steps import step
        snakemake = SimpleNamespace(rule="parse_records", log=[{str(tmp_path / 'parse.log')!r}])
        with step(snakemake):
            raise InputError("extra.ris, line 3: not a tag line inside a record")
    """))
    out = subprocess.run([sys.executable, str(script)], check=False, capture_output=True, text=True,
                         cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr == "parse_records: extra.ris, line 3: not a tag line inside a record\n"
    assert out.stdout == ""
