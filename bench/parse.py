"""Benchmark: evsynth's MEDLINE XML parser against Biopython's Entrez.read and a bare lxml pass.

Builds large PubmedArticleSet files (>= 20,000 records) in a temporary directory by replicating the
real EFetch fixture records (shared/fixtures/entrez) with rewritten PMIDs, then runs each parser in
its own subprocess and prints records/s and peak memory of that subprocess (VmHWM, and ru_maxrss,
which on Linux also counts the launching process's memory at fork time), with ratios.

* evsynth     ``evsynth.pubmed.parse_medline`` over the whole file (all fields).
* biopython   ``Bio.Entrez.read`` per 500-record ``PubmedArticleSet`` chunk (as EFetch batches are
              stored), pulling the same fields from its nested dicts.
* lxml        a bare ``lxml.etree.iterparse`` pass pulling the same fields with plain ``findtext``.

Goals (printed, not asserted): evsynth >= 6x Biopython's throughput, >= 0.75x the bare lxml pass,
peak memory < 100 MB and not growing with file size (evsynth is run at two file sizes).

The files are flushed and read once before timing, so every parser reads from the page cache; evsynth
and lxml are timed ``--repeat`` times, alternating (fastest counts), Biopython once (it is slow).

Usage: ``python bench/parse.py [--records 20000] [--chunk 500] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "entrez"
# the captured responses where this checkout has them, else the project's own fixtures (same formats)
FIXTURES = SHARED if SHARED.is_dir() else Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "entrez"
HEADER = (
    b'<?xml version="1.0" ?>\n<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2025//EN" '
    b'"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_250101.dtd">\n<PubmedArticleSet>\n'
)
FOOTER = b"</PubmedArticleSet>\n"
PLACEHOLDER = b"@@PMID@@"


# -- building the input ---------------------------------------------------------------------------
def templates() -> list[bytes]:
    """Every fixture PubmedArticle/PubmedBookArticle, serialized with its PMID replaced by a placeholder."""
    from lxml import etree

    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    out = []
    for path in sorted(FIXTURES.glob("efetch_*.xml")):
        try:
            root = etree.parse(str(path), parser).getroot()
        except etree.XMLSyntaxError:  # the fault fixtures (an error page inside a 200 answer) are not records
            continue
        for rec in root:
            if rec.tag not in ("PubmedArticle", "PubmedBookArticle"):
                continue
            for pmid in rec.iterfind("MedlineCitation/PMID"):
                pmid.text = PLACEHOLDER.decode()
            for pmid in rec.iterfind("BookDocument/PMID"):
                pmid.text = PLACEHOLDER.decode()
            for aid in rec.iterfind("PubmedData/ArticleIdList/ArticleId"):
                if aid.get("IdType") == "pubmed":
                    aid.text = PLACEHOLDER.decode()
            rec.tail = "\n"
            out.append(etree.tostring(rec, encoding="utf-8"))
    return out


def build(directory: Path, n: int, chunk: int) -> tuple[Path, Path]:
    """Write ``n`` records as one big file and as ``chunk``-record files; return (file, chunk dir)."""
    tpl = templates()
    big = directory / f"medline_{n}.xml"
    chunks = directory / f"chunks_{n}"
    chunks.mkdir()
    with open(big, "wb") as fh:
        fh.write(HEADER)
        part: list[bytes] = []
        for i in range(n):
            rec = tpl[i % len(tpl)].replace(PLACEHOLDER, str(50_000_000 + i).encode())
            fh.write(rec)
            part.append(rec)
            if len(part) == chunk or i == n - 1:
                (chunks / f"batch_{i // chunk:05d}.xml").write_bytes(HEADER + b"".join(part) + FOOTER)
                part = []
        fh.write(FOOTER)
    return big, chunks


# -- workers (each runs in its own subprocess) --------------------------------------------------
def work_evsynth(path: Path) -> int:
    from evsynth.pubmed import parse_medline

    n = 0
    for _rec in parse_medline(path):
        n += 1
    return n


def _block_network() -> None:
    import socket

    def refuse(*args, **kwargs):
        raise RuntimeError("benchmark workers must not use the network")

    socket.socket.connect = refuse  # type: ignore[method-assign]


def work_biopython(chunks: Path) -> int:
    from Bio import Entrez

    n = 0
    for path in sorted(chunks.glob("batch_*.xml")):
        with open(path, "rb") as fh:
            data = Entrez.read(fh, validate=False)  # the 2016/2017 records carry DateCreated
        for art in data["PubmedArticle"]:
            cit = art["MedlineCitation"]
            a = cit["Article"]
            _ = (str(cit["PMID"]), a.get("ArticleTitle"), a.get("Abstract", {}).get("AbstractText"),
                 a["Journal"].get("Title"), a.get("AuthorList"), a.get("PublicationTypeList"),
                 cit.get("MeshHeadingList"), cit.get("KeywordList"), a.get("DataBankList"), a.get("Language"),
                 art["PubmedData"].get("ArticleIdList"))
            n += 1
        for book in data["PubmedBookArticle"]:
            _ = str(book["BookDocument"]["PMID"])
            n += 1
    return n


def work_lxml(path: Path) -> int:
    """The floor: one iterparse pass pulling the same fields with plain findtext/iter, no cleaning."""
    from lxml import etree

    n = 0
    nct = re.compile(r"NCT\d{8}")
    for _ev, el in etree.iterparse(str(path), events=("end",), tag=("PubmedArticle", "PubmedBookArticle"),
                                   resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False):
        title = "".join(el.find(".//ArticleTitle").itertext())
        abstract = "\n".join("".join(t.itertext()) for t in el.iter("AbstractText"))
        _ = (el.findtext(".//PMID"), title, abstract, el.findtext(".//Journal/Title"),
             [a.findtext("LastName") for a in el.iter("Author")], [p.text for p in el.iter("PublicationType")],
             [d.text for d in el.iter("DescriptorName")], [k.text for k in el.iter("Keyword")],
             [a.text for a in el.iter("AccessionNumber")], nct.findall(title + abstract), el.findtext(".//Language"),
             [a.text for a in el.iterfind("PubmedData/ArticleIdList/ArticleId")], el.findtext(".//PubDate/Year"))
        n += 1
        el.clear()
        while el.getprevious() is not None:
            del el.getparent()[0]
    return n


WORKERS = {"evsynth": work_evsynth, "biopython": work_biopython, "lxml": work_lxml}


def worker_main(kind: str, path: str) -> None:
    _block_network()
    import importlib

    # Imports are not part of the timed pass.
    importlib.import_module({"evsynth": "evsynth.pubmed", "biopython": "Bio.Entrez", "lxml": "lxml.etree"}[kind])
    t0 = time.perf_counter()
    n = WORKERS[kind](Path(path))
    seconds = time.perf_counter() - t0
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux
    print(json.dumps({"records": n, "seconds": seconds, "maxrss_mb": maxrss_kb / 1024, "hwm_mb": _vm_hwm_mb()}))


def _vm_hwm_mb() -> float | None:
    """Peak RSS of this process's own address space (``VmHWM``; Linux), or None elsewhere.

    Linux carries ``ru_maxrss`` across ``fork``+``exec``: a worker's ru_maxrss is never below the
    launching process's RSS at fork time. ``VmHWM`` belongs to the new address space only.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_worker(kind: str, path: Path, repeat: int = 1) -> dict:
    """Best (fastest) of ``repeat`` runs, each in a fresh subprocess."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path)], capture_output=True,
                             text=True, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def warm(*paths: Path) -> None:
    """Flush the freshly written files and read them once, so every parser reads from the page cache."""
    os.sync()
    for path in paths:
        files = sorted(path.glob("*.xml")) if path.is_dir() else [path]
        for file in files:
            with open(file, "rb") as fh:
                while fh.read(1 << 24):
                    pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=20_000)
    ap.add_argument("--chunk", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3, help="runs of evsynth and lxml; the fastest counts")
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    with tempfile.TemporaryDirectory(prefix="evsynth-bench-") as tmp:
        small, chunks = build(Path(tmp), args.records, args.chunk)
        large, _ = build(Path(tmp), 2 * args.records, args.chunk)
        print(f"input: {args.records} records, {small.stat().st_size / 1e6:.1f} MB "
              f"(and {2 * args.records} records, {large.stat().st_size / 1e6:.1f} MB); "
              f"Biopython reads {args.chunk}-record chunks")
        warm(small, chunks, large)
        # evsynth and lxml alternate, so load from other processes on the machine hits both alike.
        pairs = [(run_worker("evsynth", small), run_worker("lxml", small)) for _ in range(args.repeat)]
        res = {
            "evsynth": min((p[0] for p in pairs), key=lambda r: r["seconds"]),
            "biopython": run_worker("biopython", chunks),
            "lxml": min((p[1] for p in pairs), key=lambda r: r["seconds"]),
            "evsynth_2x": run_worker("evsynth", large, args.repeat),
        }
        for name, r in res.items():
            rate = r["records"] / r["seconds"]
            r["rate"] = rate
            r["peak_mb"] = r["hwm_mb"] if r["hwm_mb"] is not None else r["maxrss_mb"]
            print(f"{name:12s} {r['records']:7d} records  {r['seconds']:7.2f} s  {rate:9.0f} records/s  "
                  f"peak RSS {r['peak_mb']:6.1f} MB (ru_maxrss {r['maxrss_mb']:.1f} MB, includes launcher)")
        ev, bio, bare = res["evsynth"]["rate"], res["biopython"]["rate"], res["lxml"]["rate"]
        print(f"evsynth / biopython throughput: {ev / bio:.2f}x (goal >= 6x)")
        print(f"evsynth / bare lxml throughput: {ev / bare:.2f}x (goal >= 0.75x)")
        print(f"evsynth peak memory: {res['evsynth']['peak_mb']:.1f} MB at {args.records} records, "
              f"{res['evsynth_2x']['peak_mb']:.1f} MB at {2 * args.records} records (goal < 100 MB, flat)")


if __name__ == "__main__":
    main()
