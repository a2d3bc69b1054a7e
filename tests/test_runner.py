"""evsynth run (evsynth.runner): quiet on success, one line per failure, killed runs recover on their own.

The end-to-end cases run a two-rule toy workflow (seconds), so the runner's behaviour is tested
apart from the pipeline's; tests/test_faults.py drives the real pipeline.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from evsynth import runner
from evsynth.runner import RunLock, RunLockedError, diagnose

EVSYNTH = Path(sys.executable).with_name("evsynth")

SNAKEFILE = textwrap.dedent('''
    from snakemake.exceptions import WorkflowError

    configfile: "config.yaml"

    if config.get("method") not in ("REML", "DL"):
        raise WorkflowError(f"invalid configuration:\\nconfig: method: {config.get('method')!r} is not one of ['REML', 'DL']")

    rule all:
        input: "out/b.txt"

    rule a:
        input: "in.csv"
        output: "out/a.txt"
        log: "logs/a.log"
        params: fail=config.get("fail", "")
        script: "a.py"

    rule b:
        input: "out/a.txt"
        output: "out/b.txt"
        log: "logs/b.log"
        script: "b.py"
''')

SCRIPT_A = textwrap.dedent('''
    import logging
    from evsynth.errors import InputError
    from evsynth.io import write_text
    from evsynth.steps import step

    with step(snakemake):
        logging.getLogger("toy").info("reading %s", snakemake.input[0])
        if snakemake.params.fail == "input":
            raise InputError("in.csv, row 2, column 'x': 'abc' is not a number")
        if snakemake.params.fail == "bug":
            raise KeyError("column")
        write_text(snakemake.output[0], open(snakemake.input[0]).read().upper())
''')

SCRIPT_B = textwrap.dedent('''
    import os, time
    from evsynth.steps import step

    with step(snakemake):
        with open(snakemake.output[0], "w") as fh:  # written in place: half a file while it waits
            fh.write(open(snakemake.input[0]).read())
            fh.flush()
            deadline = time.monotonic() + 60
            while os.path.exists("hold") and time.monotonic() < deadline:
                time.sleep(0.1)
            fh.write("done\\n")
''')


@pytest.fixture
def toy(tmp_path):
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "a.py").write_text(SCRIPT_A)
    (tmp_path / "b.py").write_text(SCRIPT_B)
    (tmp_path / "config.yaml").write_text("method: REML\n")
    (tmp_path / "in.csv").write_text("x\n1\n")
    return tmp_path


def evsynth_run(project: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(EVSYNTH), "run", "--cores", "1", *args], cwd=project, capture_output=True,
                          text=True, timeout=300, check=False, **kw)


# -- end to end on the toy workflow ------------------------------------------------------------
@pytest.mark.slow
def test_success_is_one_line_and_output_goes_to_the_log(toy):
    out = evsynth_run(toy)
    assert out.returncode == 0, out.stderr
    assert out.stderr == ""
    assert out.stdout == "evsynth run: 3 step(s) run; log: logs/snakemake.log\n"
    assert (toy / "out/b.txt").read_text() == "X\n1\ndone\n"
    assert "Finished jobid" in (toy / "logs/snakemake.log").read_text()
    assert "INFO toy: reading in.csv" in (toy / "logs/a.log").read_text()
    again = evsynth_run(toy)
    assert (again.returncode, again.stdout) == (0, "evsynth run: outputs are up to date (nothing to do)\n")


@pytest.mark.slow
def test_failed_step_is_one_line_with_its_log(toy):
    out = evsynth_run(toy, "--config", "fail=input")
    assert out.returncode == 1
    assert out.stdout == ""
    assert out.stderr == "a: in.csv, row 2, column 'x': 'abc' is not a number (log: logs/a.log)\n"
    assert not (toy / "out/a.txt").exists()


@pytest.mark.slow
def test_unexpected_error_names_the_traceback_file(toy):
    out = evsynth_run(toy, "--config", "fail=bug")
    assert out.returncode == 1
    assert out.stderr == "a: unexpected error KeyError: 'column' (traceback in logs/a.log)\n"
    assert "Traceback" not in out.stdout + out.stderr
    assert (toy / "logs/a.log").read_text().count("Traceback (most recent call last)") == 1


@pytest.mark.slow
def test_config_error_and_yaml_error_are_one_line(toy):
    out = evsynth_run(toy, "--config", "method=REMLX")
    assert out.returncode == 1
    assert out.stderr == "config: method: 'REMLX' is not one of ['REML', 'DL']\n"
    (toy / "config.yaml").write_text("method: REML\nwindows: [1, 2\n")
    out = evsynth_run(toy)
    assert out.returncode == 1
    assert out.stderr.startswith("config.yaml, line 3, column 1: not valid YAML")
    assert len(out.stderr.splitlines()) == 1


@pytest.mark.slow
def test_missing_input_is_named(toy):
    (toy / "in.csv").unlink()
    out = evsynth_run(toy)
    assert out.returncode == 1
    assert out.stderr == "in.csv: missing input file (needed by step a)\n"


@pytest.mark.slow
def test_stale_lock_of_a_dead_run_is_cleared(toy):
    locks = toy / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text(f"{toy}/in.csv\n")
    (locks / "0.output.lock").write_text(f"{toy}/out/a.txt\n")
    stale_temporary = toy / "results" / ".report.html.abcd1234.tmp"  # left by a killed atomic write
    stale_temporary.parent.mkdir()
    stale_temporary.write_text("half")
    out = evsynth_run(toy)
    assert out.returncode == 0, out.stderr
    assert (toy / "out/b.txt").read_text() == "X\n1\ndone\n"
    assert not stale_temporary.exists()


@pytest.mark.slow
def test_second_run_in_the_same_folder_is_refused(toy):
    with RunLock(toy):
        out = evsynth_run(toy)
    assert out.returncode == 1
    assert out.stderr == (f"evsynth run: another run (pid {os.getpid()}) is working in {toy}; "
                          f"wait for it to finish (or stop it) and run again\n")
    assert not (toy / "out").exists()


@pytest.mark.slow
def test_killed_run_is_resumed_by_the_same_command(toy):
    (toy / "hold").write_text("")  # step b writes half its output, then waits while this file exists
    first = subprocess.Popen([str(EVSYNTH), "run", "--cores", "1"], cwd=toy, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (toy / "out/b.txt").exists() or not (toy / "out/b.txt").read_text():
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.2)
    finally:
        os.killpg(first.pid, 9)
        first.wait()
    assert any((toy / ".snakemake" / "locks").iterdir())  # what a killed Snakemake leaves behind
    assert any((toy / ".snakemake" / "incomplete").iterdir())
    assert (toy / "out/b.txt").read_text() == "X\n1\n"  # half a file
    (toy / "hold").unlink()
    out = evsynth_run(toy)
    assert out.returncode == 0, out.stderr
    assert (toy / "out/b.txt").read_text() == "X\n1\ndone\n"


# -- reading Snakemake's output ---------------------------------------------------------------
def test_diagnose_config_error():
    text = textwrap.dedent("""\
        Config file config.yaml is extended by additional config specified via the command line.
        WorkflowError in file "/p/Snakefile", line 17:
        invalid configuration:
        config: foo: unknown key
        config: analysis.method: 'REMLX' is not one of ['FE', 'DL', 'REML']
          File "/p/Snakefile", line 17, in <module>
        """)
    assert diagnose(text, Path("/p")) == ["config: foo: unknown key",
                                          "config: analysis.method: 'REMLX' is not one of ['FE', 'DL', 'REML']"]


def test_diagnose_lock_held_by_a_live_process():
    text = ("Building DAG of jobs...\nLockException:\nError: Directory cannot be locked. Please make sure that no "
            "other Snakemake process is trying to create the same files in the following directory:\n/p\n")
    assert diagnose(text, Path("/p")) == [
        "another Snakemake process is working in /p; wait for it to finish (or stop it) and run again"]


def test_diagnose_failed_step_reads_its_log(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs/extract.log").write_text(
        "2026-01-01 INFO evsynth.steps: step extract started\n"
        f"FAILED extract: {tmp_path}/data/raw/extraction/outcomes.csv, row 2, column 'mean': not a number\n")
    text = textwrap.dedent("""\
        [Mon Nov 30 16:26:42 2026]
        Error in rule extract:
            message: None
            jobid: 4
            input: data/raw/extraction/studies.csv
            output: data/processed/studies.csv
            log: logs/extract.log (check log file(s) for error details)
        Shutting down, this might take some time.
        """)
    assert diagnose(text, tmp_path) == [
        "extract: data/raw/extraction/outcomes.csv, row 2, column 'mean': not a number (log: logs/extract.log)"]


def test_diagnose_failed_step_without_its_message(tmp_path):
    text = textwrap.dedent("""\
        Traceback (most recent call last):
          File "/p/.snakemake/scripts/tmpx.extract.py", line 11, in <module>
        evsynth.extraction.tables.ExtractionError: 1 problem(s) in the extraction tables:
          /p/data/raw/extraction/outcomes.csv, row 2, column 'mean': 'abc' is not of type 'number'
        RuleException:
        CalledProcessError in file "/p/workflow/rules/extract.smk", line 14:
        Command 'set -euo pipefail;  python /p/.snakemake/scripts/tmpx.extract.py' returned non-zero exit status 1.
        Error in rule extract:
            jobid: 4
            output: data/processed/studies.csv
        """)
    assert diagnose(text, Path("/p")) == [
        ("extract: failed: ExtractionError: data/raw/extraction/outcomes.csv, row 2, column 'mean': 'abc' is not "
         "of type 'number' (log: logs/snakemake.log)")]


def test_diagnose_missing_input_and_permission():
    text = textwrap.dedent("""\
        MissingInputException in rule extract in file "/p/workflow/rules/extract.smk", line 4:
        Missing input files for rule extract:
            output: data/processed/studies.csv
            affected files:
                data/raw/extraction/arms.csv
                data/raw/extraction/outcomes.csv
        """)
    assert diagnose(text, Path("/p")) == [
        "data/raw/extraction/arms.csv: missing input file (needed by step extract)",
        "data/raw/extraction/outcomes.csv: missing input file (needed by step extract)"]
    text = ('  File "/v/snakemake/io/__init__.py", line 1273, in remove\n    os.remove(file)\n'
            "PermissionError: [Errno 13] Permission denied: 'data/processed/studies.csv'\n")
    assert diagnose(text, Path("/p")) == ["data/processed/studies.csv: permission denied"]


def test_diagnose_missing_output():
    text = textwrap.dedent("""\
        Waiting at most 5 seconds for missing files:
        out/c.txt (missing locally)
        MissingOutputException in rule c in file "/p/Snakefile", line 3:
        Job 1  completed successfully, but some output files are missing. Missing files after 5 seconds. This
        out/c.txt (missing locally, parent dir contents: )
        Shutting down, this might take some time.
        Exiting because a job execution failed. Look above for error messages
        WorkflowError:
        At least one job did not complete successfully.
        """)
    assert diagnose(text, Path("/p")) == ["c: finished without writing out/c.txt (log: logs/snakemake.log)"]


def test_diagnose_snakefile_error_and_fallback():
    text = ('ImportError in file "/p/Snakefile", line 10:\n'
            "cannot import name 'processed' from 'evsynth'\n  File \"/p/Snakefile\", line 10, in <module>\n")
    assert diagnose(text, Path("/p")) == [("Snakefile, line 10: ImportError: cannot import name 'processed' "
                                           "from 'evsynth'")]
    text = ('WorkflowError in file "/p/Snakefile", line 34:\n'
            "config: extraction.dir: table file data/raw/extraction/arms.csv not found\n")
    assert diagnose(text, Path("/p")) == ["config: extraction.dir: table file data/raw/extraction/arms.csv not found"]
    assert diagnose("something odd\n", Path("/p")) == ["snakemake failed (log: logs/snakemake.log)"]


def test_summary_lines():
    assert runner.summary("Nothing to be done (all requested files are present and up to date).") == \
        "evsynth run: outputs are up to date (nothing to do)"
    assert runner.summary("5 of 9 steps (56%) done\n9 of 9 steps (100%) done\n") == \
        "evsynth run: 9 step(s) run; log: logs/snakemake.log"


def test_snakemake_command_rebuilds_incomplete_outputs():
    cmd = runner.snakemake_command(3, ["a=1"], ["config.yaml", "x.yaml"], ["all"])
    assert cmd[1:] == ["--cores", "3", "--rerun-incomplete", "--nocolor", "--configfile", "config.yaml", "x.yaml",
                       "--config", "a=1", "--", "all"]
    assert Path(cmd[0]).name == "snakemake" or cmd[1:3] == ["-m", "snakemake"]


def test_check_yaml_names_file_line_and_column(tmp_path):
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("a: 1\n")
    bad.write_text("a: 1\nb: [1,\n")
    assert runner.check_yaml([good], tmp_path) == []
    (problem,) = runner.check_yaml([bad], tmp_path)
    assert problem.startswith("bad.yaml, line 3, column 1: not valid YAML")
    assert runner.check_yaml([tmp_path / "none.yaml"], tmp_path) == ["none.yaml: no such file or directory"]


# -- locks ------------------------------------------------------------------------------------
def test_run_lock_is_exclusive_and_records_the_pid(tmp_path):
    with RunLock(tmp_path):
        assert (tmp_path / ".snakemake/evsynth-run.pid").read_text() == f"{os.getpid()}\n"
        with pytest.raises(RunLockedError, match=f"another run \\(pid {os.getpid()}\\) is working in"), \
                RunLock(tmp_path):
            pass
    with RunLock(tmp_path):  # released
        pass


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to list processes")
def test_locks_of_a_live_snakemake_are_kept(tmp_path):
    locks = tmp_path / ".snakemake" / "locks"
    locks.mkdir(parents=True)
    (locks / "0.input.lock").write_text("x\n")
    fake = tmp_path / "bin" / "snakemake"  # a process whose name is snakemake, working in tmp_path
    fake.parent.mkdir()
    fake.symlink_to("/bin/sleep")
    live = subprocess.Popen([str(fake), "30"], cwd=tmp_path)
    try:
        time.sleep(0.2)
        assert runner.snakemake_pids(tmp_path) == [live.pid]
        assert runner.clear_stale_locks(tmp_path) is False
        assert (locks / "0.input.lock").exists()
    finally:
        live.kill()
        live.wait()
    assert runner.snakemake_pids(tmp_path) == []
    assert runner.clear_stale_locks(tmp_path) is True
    assert not locks.exists()


def test_is_snakemake():
    assert runner._is_snakemake(["/v/bin/python", "/v/bin/snakemake", "--cores", "2"])
    assert runner._is_snakemake(["snakemake", "--cores", "2"])
    assert runner._is_snakemake(["python", "-m", "snakemake"])
    assert not runner._is_snakemake(["/v/bin/python", "/p/.snakemake/scripts/tmpab.extract.py"])
