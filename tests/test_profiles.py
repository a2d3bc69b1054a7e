"""The Snakemake profiles: each loads, names its executor and dry-runs the workflow.

``profiles/local`` runs everything on one machine; ``profiles/slurm`` submits jobs with
snakemake-executor-plugin-slurm. A dry run never submits anything, so the SLURM profile is dry-run
here without ``sbatch``: Snakemake still loads the plugin (an unknown executor is refused), applies
the profile's per-rule resources, and prints them for every job.
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
PROFILES = ROOT / "profiles"
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
LIVE = ["--config", "pubmed={mode: live}"]


def profile(name: str) -> dict:
    return yaml.safe_load((PROFILES / name / "config.yaml").read_text())


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the repository's files (the Snakefile tidies data/processed when it loads)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git checkout: cannot list the repository's files")
    dest = tmp_path_factory.mktemp("profiles") / "evsynth"
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copy2(ROOT / name, dest / name)
            except FileNotFoundError:  # an untracked file removed meanwhile
                continue
    return dest


@pytest.fixture(scope="module")
def rules(project) -> set[str]:
    """Every rule of the workflow in live mode (which adds fetch_pubmed)."""
    out = subprocess.run([str(SNAKEMAKE), "--list-rules", *LIVE], cwd=project, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    return set(out.stdout.split())


def dry_run(project: Path, name: str, *extra: str) -> str:
    out = subprocess.run([str(SNAKEMAKE), "-n", "--profile", str(PROFILES / name), *extra], cwd=project,
                         capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "This was a dry-run" in text
    return text


def job_resources(text: str, rule: str) -> dict[str, str]:
    """The ``resources:`` line of the first job of ``rule`` in a dry run's output."""
    block = re.search(rf"^rule {rule}:\n(?:    .*\n)*?    resources: (.*)$", text, flags=re.MULTILINE)
    assert block, f"no job of rule {rule} in the dry run"
    return dict(item.split("=", 1) for item in block.group(1).split(", "))


def test_local_profile():
    local = profile("local")
    assert local["cores"] == 2 and "executor" not in local  # Snakemake's local executor
    assert local["rerun-incomplete"] is True


def test_slurm_profile_names_the_executor_and_resources(rules):
    slurm = profile("slurm")
    assert slurm["executor"] == "slurm"
    assert {"mem_mb", "runtime"} <= set(slurm["default-resources"])
    heavy = set(slurm["set-resources"]) | set(slurm.get("set-threads", {}))
    assert heavy <= rules, f"profile names rules the workflow lacks: {sorted(heavy - rules)}"
    assert "fetch_pubmed" in rules and "fetch_pubmed" not in heavy  # it runs on the login node


def test_slurm_plugin_is_installed():
    from snakemake_executor_plugin_slurm import ExecutorSettings

    assert ExecutorSettings is not None


def test_local_profile_dry_run(project):
    text = dry_run(project, "local")
    assert re.search(r"^report\s+1$", text, flags=re.MULTILINE)
    assert "executor: slurm" not in text


def test_slurm_profile_dry_run_applies_per_rule_resources(project):
    text = dry_run(project, "slurm", *LIVE)
    assert re.search(r"^fetch_pubmed\s+1$", text, flags=re.MULTILINE)
    slurm = profile("slurm")
    pool, screen = job_resources(text, "pool"), job_resources(text, "screen")
    expected = slurm["set-resources"]["pool"]
    assert (int(pool["mem_mb"]), int(pool["runtime"]), int(pool["cpus_per_task"])) == (
        expected["mem_mb"], expected["runtime"], expected["cpus_per_task"])
    defaults = slurm["default-resources"]
    assert (int(screen["mem_mb"]), int(screen["runtime"])) == (defaults["mem_mb"], defaults["runtime"])


LOCAL_RULES = """
import sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=Path("Snakefile"), workdir=Path("."),
                      config_settings=ConfigSettings(config={"pubmed": {"mode": "live"}}))
    wf.dag()  # parses the Snakefile and its includes
    # Snakemake 9 has no public accessor for the set of local rules.
    print("LOCALRULES", " ".join(sorted(wf._workflow._localrules)))
"""


def test_fetch_pubmed_is_a_local_rule(project):
    """Snakemake's own reading of the workflow: fetch_pubmed is never submitted to cluster nodes."""
    out = subprocess.run([sys.executable, "-c", LOCAL_RULES], cwd=project, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert re.findall(r"^LOCALRULES (.*)$", out.stdout, flags=re.MULTILINE) == ["fetch_pubmed"]
