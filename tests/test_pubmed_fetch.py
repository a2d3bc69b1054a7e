"""Shared rate limit across processes, kill-and-resume, and the ``evsynth fetch`` CLI (stub server only)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eutils_stub import EutilsStub, fetch_worker, make_records

from evsynth.cli import main as evsynth_main
from evsynth.pubmed import FileThrottle, fetch
from evsynth.pubmed.client import EutilsClient

# The own fixtures' records (tests/fixtures/entrez) plus one clone, in numeric order.
PMIDS = ["90100001", "90100002", "90100003", "90100004", "90100005", "90100006", "90100007", "90200001"]
DATE = "2026-01-01T00:00:00Z"


def max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    return max((sum(1 for u in times[i:] if u - t < window) for i, t in enumerate(times)), default=0)


def test_throttle_limits_one_process(tmp_path):
    throttle = FileThrottle(3, window=0.2, directory=tmp_path, margin=0.0)
    starts = [throttle.wait() for _ in range(8)]  # the recorded start times
    assert max_in_window(starts, 0.2) == 3
    assert starts[-1] - starts[0] >= 0.4  # 8 requests at 3 per 0.2 s need at least two full windows


def test_throttle_recovers_from_a_damaged_stamp_file(tmp_path):
    throttle = FileThrottle(3, window=0.1, directory=tmp_path)
    tmp_path.joinpath("eutils.json").write_text("{not json")
    t0 = time.time()
    throttle.wait()
    assert time.time() - t0 >= 0.1  # an unknown state counts as a full window, not an empty one


def test_rate_limit_holds_across_two_processes(tmp_path):
    records = make_records(PMIDS[:5])
    with EutilsStub(records) as stub:
        ctx = multiprocessing.get_context("spawn")
        procs = [
            ctx.Process(target=fetch_worker, args=(stub.url, str(tmp_path / f"out{i}"), str(tmp_path / "thr"), 1))
            for i in range(2)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0, 0]
        times = [r["time"] for r in stub.log]
    assert len(times) == 12  # 2 x (1 esearch + 5 efetch)
    assert max_in_window(times, 1.0) <= 3
    assert (tmp_path / "out0" / "batch_00004.xml").read_bytes() == (tmp_path / "out1" / "batch_00004.xml").read_bytes()


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_killed_fetch_resumes_to_identical_files(tmp_path):
    env = dict(os.environ, EVSYNTH_THROTTLE_DIR=str(tmp_path / "thr"), EVSYNTH_RETRIEVAL_DATE=DATE, CI="1")
    env.pop("NCBI_API_KEY", None)
    with EutilsStub(make_records(PMIDS)) as stub:
        reference = tmp_path / "reference"
        fetch("ketamine", reference, eutils_url=stub.url, batch_size=2, throttle_dir=tmp_path / "thr",
              api_key="", retrieval_date=DATE)
        stub.reset()

        stub.slow_after, stub.slow_sleep = 1, 30.0  # after the first batch, answers hang
        out = tmp_path / "killed"
        cmd = [sys.executable, "-m", "evsynth.cli", "fetch", "--query", "ketamine", "--out", str(out),
               "--eutils-url", stub.url, "--batch-size", "2"]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while not (out / "batch_00000.xml").exists() or len(stub.requests_to("efetch")) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "fetch never got going"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert not (out / "search.json").exists()  # nothing claims to be complete
        assert sorted(p.name for p in out.glob("batch_*.xml")) == ["batch_00000.xml"]

        stub.slow_after = None
        stub.reset()
        rerun = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True, timeout=60)
        assert rerun.returncode == 0, rerun.stderr
        fetched = [r["params"]["id"] for r in stub.requests_to("efetch")]
    assert fetched == [",".join(PMIDS[i : i + 2]) for i in (2, 4, 6)]  # only the missing batches
    assert snapshot(out) == snapshot(reference)


def test_resume_refetches_a_batch_with_the_wrong_records(tmp_path):
    with EutilsStub(make_records(PMIDS)) as stub:
        client = EutilsClient(stub.url, throttle=FileThrottle(1000, directory=tmp_path / "thr"))
        out = tmp_path / "o"
        fetch("q", out, client=client, batch_size=3, retrieval_date=DATE)
        first = snapshot(out)
        (out / "batch_00001.xml").write_bytes(first["batch_00000.xml"])  # right name, wrong PMIDs
        (out / ".batch_00002.xml.abc.tmp").write_bytes(b"<PubmedArt")  # a killed run's temp file
        (out / "batch_00007.xml").write_bytes(b"stale")  # from an earlier, larger search
        stub.log.clear()
        fetch("q", out, client=client, batch_size=3, retrieval_date=DATE)
        assert [r["params"]["id"] for r in stub.requests_to("efetch")] == [",".join(PMIDS[3:6])]
    assert snapshot(out) == first


def test_cli_fetch_writes_snapshot(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVSYNTH_THROTTLE_DIR", str(tmp_path / "thr"))
    monkeypatch.setenv("EVSYNTH_RETRIEVAL_DATE", DATE)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    with EutilsStub(make_records(PMIDS[:3])) as stub:
        monkeypatch.setenv("EVSYNTH_EUTILS_URL", stub.url)  # the CLI's default comes from the environment
        code = evsynth_main(["fetch", "--query", "ketamine", "--out", str(tmp_path / "o"), "--batch-size", "2",
                             "--mindate", "2000/01/01", "--maxdate", "2025/12/31"])
    assert code == 0
    import json

    summary = json.loads((tmp_path / "o" / "search.json").read_text())
    assert summary["pmids"] == PMIDS[:3] and summary["retrieval_date"] == DATE
    assert summary["eutils_url"] == stub.url and summary["mindate"] == "2000/01/01"
    assert summary["evsynth_version"]
    assert sorted(p.name for p in (tmp_path / "o").glob("*.xml")) == ["batch_00000.xml", "batch_00001.xml"]


def test_cli_fetch_permanent_failure_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EVSYNTH_THROTTLE_DIR", str(tmp_path / "thr"))
    monkeypatch.setenv("NCBI_API_KEY", "SECRETKEY42")
    with EutilsStub(make_records(PMIDS[:3])) as stub:
        stub.faults["efetch"] = ["500"] * 5
        code = evsynth_main(["fetch", "--query", "k", "--out", str(tmp_path / "o"), "--eutils-url", stub.url,
                             "--max-retries", "1", "--backoff-base", "0.001"])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("evsynth fetch: error: ") and "gave up after 2 attempts" in last and "HTTP 500" in last
    assert "SECRETKEY42" not in err
    assert not (tmp_path / "o" / "search.json").exists()


@pytest.mark.parametrize("argv, message", [
    (["--mindate", "2000/01/01"], "--mindate and --maxdate must be given together"),
    (["--batch-size", "0", "--eutils-url", "http://127.0.0.1:9/"], "batch_size must be >= 1"),
])
def test_cli_fetch_bad_arguments(tmp_path, capsys, argv, message):
    code = evsynth_main(["fetch", "--query", "k", "--out", str(tmp_path / "o"), *argv])
    assert code != 0
    assert message in capsys.readouterr().err
