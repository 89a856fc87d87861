"""`stackpref.load`: a build folder through its card's configs, a Hub id through datasets, and
friendly errors; `import stackpref` stays light."""

import json
import subprocess
import sys

import datasets
import pytest

import stackpref
from stackpref.errors import ConfigError, InputError
from stackpref.schema import OUTPUT_SCHEMAS

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("config", ["pairs", "sft"])
def test_load_reads_the_splits_the_card_declares(sample_build, config):
    loaded = stackpref.load(sample_build, config=config)
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert isinstance(loaded, datasets.DatasetDict)
    assert {name: split.num_rows for name, split in loaded.items()} == manifest["counts"]["splits"][config]
    assert loaded["test"].column_names == OUTPUT_SCHEMAS[config].names


def test_load_defaults_to_pairs(sample_build):
    assert "chosen" in stackpref.load(str(sample_build))["train"].column_names


def test_load_errors_name_the_fix(sample_build, tmp_path):
    with pytest.raises(ConfigError, match="unknown config 'dpo'; the dataset card declares: pairs, sft"):
        stackpref.load(sample_build, config="dpo")
    with pytest.raises(InputError, match="no such folder, and not a Hub dataset id"):
        stackpref.load(tmp_path / "missing")
    with pytest.raises(InputError, match="a file; stackpref.load takes a build folder"):
        stackpref.load(sample_build / "manifest.json")


def test_load_hands_a_repo_id_to_datasets(monkeypatch):
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *args, **kwargs: calls.append((args, kwargs)) or "loaded")
    assert stackpref.load("me/coffee", config="sft") == "loaded"
    assert calls == [(("me/coffee", "sft"), {})]


def _imported_after(code: str) -> str:
    probe = "; print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets') if m in sys.modules))"
    return subprocess.run([sys.executable, "-c", "import sys, stackpref; " + code + probe],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_import_stays_light_and_load_never_imports_torch(sample_build):
    assert _imported_after("stackpref.load") == "[]"
    assert _imported_after(f"stackpref.load({str(sample_build)!r})") == "['datasets']"
