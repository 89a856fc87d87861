"""Shared fixtures: builds of the bundled sample and of the real dumps in ../shared (skipped,
with the reason, when that folder is not beside the checkout)."""

from pathlib import Path

import pytest

import stackpref
from stackpref.config import resolve_config

REPO = Path(__file__).resolve().parents[1]
SHARED_SITES = REPO.parent / "shared" / "data" / "stackexchange"
needs_shared = pytest.mark.skipif(
    not SHARED_SITES.is_dir(), reason=f"{SHARED_SITES} is absent: the real Stack Exchange dumps live beside the checkout"
)


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
