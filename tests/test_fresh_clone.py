"""A clone of the repository alone, with no ``../shared`` beside it, passes the fixture-dependent tests.

The repository's files (``git ls-files``, plus new files not yet committed and not ignored) are copied
into a temporary folder that has no sibling ``shared/``; pytest then runs the modules that read
E-utilities fixtures there, with this interpreter and the copy's own ``src`` first on the path. They
must pass, and the replays of the captured responses must be skipped with the one-line reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REQUIRE_SHARED, SHARED_SKIP_REASON

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["tests/test_pubmed_parser.py", "tests/test_pubmed_client.py", "tests/test_pubmed_fetch.py",
           "tests/test_records.py", "tests/test_snapshot.py"]


def _repository_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: cannot list the repository's files")
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, check=True).stdout
    return [name for name in out.decode().split("\0") if name]


@pytest.mark.slow
def test_clone_without_shared_passes(tmp_path):
    clone = tmp_path / "plain" / "evsynth"  # tmp_path/plain has no shared/ folder
    for name in _repository_files():
        src = ROOT / name
        if not src.is_file():  # a file deleted in the work tree but still in the index is not in a clone
            continue
        dest = clone / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(src, dest)
        except FileNotFoundError:  # an untracked file removed meanwhile (by a test running in parallel)
            continue
    assert not (clone.parent / "shared").exists()
    assert (clone / "tests" / "fixtures" / "entrez" / "README.md").is_file()

    env = {k: v for k, v in os.environ.items() if k not in (REQUIRE_SHARED, "PYTEST_ADDOPTS", "EVSYNTH_EUTILS_URL")}
    env["PYTHONPATH"] = str(clone / "src")
    where = subprocess.run([sys.executable, "-c", "import evsynth; print(evsynth.__file__)"], cwd=clone, env=env,
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(clone / "src")  # the copy's package, not this work tree's

    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *MODULES]
    run = subprocess.run(cmd, check=False, cwd=clone, env=env, capture_output=True, text=True, timeout=240)
    tail = run.stdout[-3000:] + run.stderr[-2000:]
    assert run.returncode == 0, tail
    summary = run.stdout.strip().splitlines()[-1]
    assert re.search(r"\d+ passed", summary) and "failed" not in summary and "error" not in summary, summary
    skipped = int(re.search(r"(\d+) skipped", summary).group(1))
    assert skipped >= 10, summary  # every replay of ../shared, each with the one-line reason
    assert run.stdout.count(SHARED_SKIP_REASON) >= 1
    reasons = re.findall(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", run.stdout, flags=re.MULTILINE)
    assert reasons and set(reasons) == {SHARED_SKIP_REASON}, reasons


@pytest.mark.slow
def test_required_shared_fixtures_fail_when_absent(tmp_path):
    """With EVSYNTH_REQUIRE_SHARED_FIXTURES=1 (as .ci/run sets it) a missing ../shared is a failure, not a skip."""
    clone = tmp_path / "plain" / "evsynth"
    for name in ("tests/conftest.py", "tests/eutils_stub.py", "pyproject.toml"):
        (clone / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, clone / name)
    (clone / "tests" / "test_one.py").write_text(
        "import pytest\n\n\n@pytest.mark.shared_fixtures\ndef test_replay():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"} | {REQUIRE_SHARED: "1", "COLUMNS": "300"}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_one.py"],
                         check=False, cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout[-2000:]
    assert f"{REQUIRE_SHARED}=1 but " in run.stdout and "1 error" in run.stdout  # fails in setup
    env[REQUIRE_SHARED] = "0"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_one.py"],
                         check=False, cwd=clone, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "1 skipped" in run.stdout, run.stdout[-2000:]
