"""Do two versions of stackpref build the same bytes? A refactor's check.

Builds a fixed set of inputs with the code of a git ref (checked out in a temporary worktree) and
with the working tree, then compares the sha256 of every output file and the manifest's counts:

- the six real dumps in ../shared/data/stackexchange (one build),
- beer-2016 + beer-2017 (two dumps of one site),
- the bundled sample,
- a `stack-exchange-paired` Parquet table made here from beer-2017 with lxml (no stackpref code, so
  both versions read the same input),
- the six dumps again, measured with the real Llama-2 tokenizer in ../shared/tokenizers,
- a 40 MB corpus in four site folders from `make_corpus.py` (three buckets, several byte ranges and
  route groups per file, with planted duplicates).

    python benchmarks/same_output.py            # against HEAD
    python benchmarks/same_output.py --ref HEAD~3

Exit 0 when every file is identical and the manifest's counts and leakage check match exactly;
any other manifest field that differs (a field a change added on purpose, say) is listed. Fields
that name where the build ran (paths, versions) are left out.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from lxml import etree
from make_corpus import build_sites

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "stackexchange"
LLAMA2 = ROOT.parent / "shared" / "tokenizers" / "llama2"
# Manifest fields that may differ between two checkouts of the same code.
VOLATILE = ("versions", "created", "elapsed", "config", "inputs", "manifest_version")


def paired_table(posts_xml: Path, out: Path) -> Path:
    """A stack-exchange-paired table: per question, each answer against every lower-scored one."""
    questions, answers = {}, {}
    for _, row in etree.iterparse(str(posts_xml), tag="row"):
        kind = row.get("PostTypeId")
        if kind == "1":
            questions[int(row.get("Id"))] = (row.get("Title", "") + "\n\n" + row.get("Body", ""), row.get("CreationDate"))
        elif kind == "2":
            answers.setdefault(int(row.get("ParentId")), []).append((int(row.get("Score")), row.get("Body", "")))
        row.clear()
    rows = {name: [] for name in ("qid", "question", "date", "metadata", "response_j", "response_k")}
    for qid, (question, date) in sorted(questions.items()):
        ranked = sorted(answers.get(qid, []), key=lambda a: -a[0])
        for i, (score_j, body_j) in enumerate(ranked):
            for score_k, body_k in ranked[i + 1:]:
                if score_j > score_k:
                    for name, value in zip(rows, (qid, question, date, [f"https://beer.stackexchange.com/questions/{qid}"],
                                                  body_j, body_k)):
                        rows[name].append(value)
    pq.write_table(pa.table(rows), out)
    return out


def builds(inputs: Path) -> dict[str, tuple[list[str], dict]]:
    """Name -> the build's sources and options."""
    table = paired_table(SHARED / "beer-2017" / "Posts.xml", inputs / "paired.parquet")
    corpus = inputs / "corpus"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "make_corpus.py"), "--out", str(corpus),
                    "--size-mb", "40", "--site-dirs", "--newline", "mixed", "--quiet"], check=True)
    return {
        "six-dumps": ([str(SHARED)], {}),
        "two-dumps": ([str(SHARED / "beer-2016"), str(SHARED / "beer-2017")], {}),
        "sample": ([], {}),
        "paired-table": ([str(table)], {}),
        "six-dumps-llama2": ([str(SHARED)], {"tokenizer": str(LLAMA2)}),
        "corpus-40mb": ([str(corpus / "sites")], {"workers": 2, "site": build_sites(corpus)}),
    }


def importable(worktree: Path) -> Path:
    """Lay the worktree out as it installs (training/, eval/ and data_cards/ inside the package), so
    that PYTHONPATH, not the editable install of the working tree, supplies every module."""
    for part in ("training", "eval", "data_cards"):
        link = worktree / "stackpref" / part
        if not link.exists():
            link.symlink_to(worktree / part, target_is_directory=True)
    return worktree


def run_build(code: Path, sources: list[str], options: dict, out: Path) -> None:
    """A build through the library API (`stackpref.build`), which both versions share (options a version
    does not have, such as `site` before it existed, are left out for it)."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    script = ("import json, sys, stackpref; assert stackpref.__file__.startswith(sys.argv[1]), stackpref.__file__; "
              "import dataclasses; from stackpref.config import BuildConfig, resolve_config; "
              "known = {f.name for f in dataclasses.fields(BuildConfig)}; "
              "options = {k: v for k, v in json.loads(sys.argv[4]).items() if k in known}; "
              "stackpref.build(resolve_config(sources=json.loads(sys.argv[2]), out=sys.argv[3], **options))")
    subprocess.run([sys.executable, "-c", script, str(code), json.dumps(sources), str(out), json.dumps(options)],
                   env=env, check=True, cwd=out.parent)


def digests(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and p.name != "manifest.json"}


def manifest_fields(out: Path) -> dict:
    record = json.loads((out / "manifest.json").read_text())
    return {k: v for k, v in record.items() if k not in VOLATILE}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="git ref to compare the working tree against")
    args = parser.parse_args(argv)
    if not SHARED.is_dir():
        print(f"needs the real dumps in {SHARED}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="stackpref-same-") as tmp:
        tmp = Path(tmp)
        worktree = tmp / "ref"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(worktree), args.ref],
                       check=True, capture_output=True)
        try:
            (tmp / "inputs").mkdir()
            failures = 0
            for name, (sources, options) in builds(tmp / "inputs").items():
                before, after = tmp / "before" / name, tmp / "after" / name
                before.parent.mkdir(exist_ok=True)
                after.parent.mkdir(exist_ok=True)
                run_build(importable(worktree), sources, options, before)
                run_build(ROOT, sources, options, after)
                a, b = digests(before), digests(after)
                same_files = a == b
                ca, cb = manifest_fields(before), manifest_fields(after)
                same_counts = ca.get("counts") == cb.get("counts") and ca.get("overlap_check") == cb.get("overlap_check")
                print(f"{name}: {len(b)} files, {'identical' if same_files else 'DIFFERENT'} bytes, "
                      f"manifest counts {'identical' if same_counts else 'DIFFERENT'}")
                if not same_files:
                    for path in sorted(set(a) | set(b)):
                        if a.get(path) != b.get(path):
                            print(f"  {path}: {a.get(path, 'missing')[:12]} -> {b.get(path, 'missing')[:12]}")
                for key in sorted(set(ca) | set(cb)):
                    if ca.get(key) != cb.get(key):
                        print(f"  manifest[{key!r}] differs: {str(ca.get(key, 'absent'))[:60]} -> {str(cb.get(key, 'absent'))[:60]}")
                failures += not (same_files and same_counts)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(worktree)], check=False)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
