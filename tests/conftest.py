"""Shared fixtures: builds of the bundled sample and of the real dumps in ../shared (skipped,
with the reason, when that folder is not beside the checkout)."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

# datasets caches every Parquet folder it loads (the builds, training's splits) under the user's
# ~/.cache; the tests' own cache goes to a temporary folder, removed at the end of the session.
# Set before anything imports datasets, which reads it once.
TEST_DATASETS_CACHE = tempfile.mkdtemp(prefix="stackpref-tests-datasets-cache-")
os.environ["HF_DATASETS_CACHE"] = TEST_DATASETS_CACHE

import stackpref
from stackpref.config import resolve_config

REPO = Path(__file__).resolve().parents[1]
SHARED_SITES = REPO.parent / "shared" / "data" / "stackexchange"
needs_shared = pytest.mark.skipif(
    not SHARED_SITES.is_dir(), reason=f"{SHARED_SITES} is absent: the real Stack Exchange dumps live beside the checkout"
)


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(TEST_DATASETS_CACHE, ignore_errors=True)


def run_build(out: Path, *sources, **options) -> dict:
    return stackpref.build(resolve_config(sources=[str(s) for s in sources], out=str(out), **options)).manifest


@pytest.fixture(scope="session")
def sample_build(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample") / "out"
    run_build(out)
    return out


@pytest.fixture(scope="session")
def real_build(tmp_path_factory) -> Path:
    if not SHARED_SITES.is_dir():
        pytest.skip(f"{SHARED_SITES} is absent")
    out = tmp_path_factory.mktemp("real") / "out"
    run_build(out, SHARED_SITES)
    return out


@pytest.fixture(scope="session")
def easy_build(tmp_path_factory) -> Path:
    """The easy synthetic site (tests/easy_site.py) through a real build: 120 questions, no near-dup
    clustering (the titles are alike on purpose), a large test share so held-out accuracy is measured
    on dozens of pairs. Shared by the train and eval tests."""
    from easy_site import write_easy_site

    root = tmp_path_factory.mktemp("easy")
    write_easy_site(root / "dump")
    out = root / "build"
    stackpref.build(stackpref.BuildConfig(sources=[str(root / "dump")], out=str(out), near_dup=False,
                                          split={"sft": 0.3, "train": 0.4, "test": 0.3}))
    return out
