"""A build inside a memory cgroup smaller than its input completes: memory does not grow with input.

Needs a writable cgroup v1 memory controller (root on Linux, as on this project's machines) and
the real dumps in ../shared for the corpus; skips with the reason otherwise. Takes a few minutes.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from conftest import REPO, SHARED_SITES

pytestmark = pytest.mark.slow

CGROUP_V1 = Path("/sys/fs/cgroup/memory")
BUDGET_MB = 560
CORPUS_MB = 640

BUILD = (
    "import sys, stackpref; from stackpref.config import resolve_config; "
    "stackpref.build(resolve_config(sources=[sys.argv[1]], out=sys.argv[2], site=sys.argv[3:], workers=1))"
)


@pytest.fixture
def memory_cgroup():
    if not SHARED_SITES.is_dir():
        pytest.skip(f"{SHARED_SITES} is absent: the corpus is made from the real dumps")
    if not (CGROUP_V1 / "memory.limit_in_bytes").exists() or not os.access(CGROUP_V1, os.W_OK):
        pytest.skip("no writable cgroup v1 memory controller at /sys/fs/cgroup/memory")
    group = CGROUP_V1 / f"stackpref-test-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    (group / "memory.limit_in_bytes").write_text(str(BUDGET_MB << 20))
    yield group
    group.rmdir()


def test_build_larger_than_its_memory_budget_completes(memory_cgroup, tmp_path):
    corpus = tmp_path / "corpus"
    subprocess.run([sys.executable, str(REPO / "benchmarks" / "make_corpus.py"), "--out", str(corpus),
                    "--size-mb", str(CORPUS_MB), "--quiet"], check=True)
    posts = corpus / "Posts.xml"
    assert posts.stat().st_size > (BUDGET_MB << 20)
    out = tmp_path / "out"
    join = f"echo $$ > {memory_cgroup / 'cgroup.procs'} && exec \"$0\" \"$@\""
    sites = json.loads((corpus / "corpus.json").read_text())["build_sites"]  # its host: no real site's
    result = subprocess.run(["sh", "-c", join, sys.executable, "-c", BUILD, str(posts), str(out), *sites],
                            capture_output=True, text=True)
    assert result.returncode == 0, f"exit {result.returncode} (-9: killed at the memory limit)\n{result.stderr[-2000:]}"
    assert (out / "manifest.json").is_file() and any((out / "data" / "pairs").glob("train-*.parquet"))
