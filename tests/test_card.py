"""The dataset card: Hub metadata that huggingface_hub parses and `datasets` follows, text for
people rendered from the counts, and the shipped card of the bundled sample kept current."""

import json
import os
import re

import datasets
import pytest
from conftest import REPO, SHARED_SITES, needs_shared, run_build
from huggingface_hub import DatasetCard

import stackpref
from stackpref.config import FIELDS, RUN_OPTIONS
from stackpref.output.validate import validate_build

pytestmark = pytest.mark.slow

SAMPLE_CARD = REPO / "data_cards" / "sample_card.md"


def _stable(card: str) -> str:
    """The card without what a different install changes by itself: package versions, and Parquet
    sizes (zstd output differs between pyarrow releases). Every other byte must match."""
    card = re.sub(r"^Built with: .*$", "Built with: ...", card, flags=re.MULTILINE)
    return re.sub(r"num_bytes: \d+", "num_bytes: N", card)


def test_shipped_sample_card_is_the_fresh_render(tmp_path):
    """`stackpref build` with no arguments, rendered now; STACKPREF_REGENERATE=1 rewrites the file."""
    out = tmp_path / "stackpref-data"
    run_build(out)
    fresh = (out / "README.md").read_text(encoding="utf-8")
    if os.environ.get("STACKPREF_REGENERATE") == "1":
        SAMPLE_CARD.write_text(fresh, encoding="utf-8")
    assert _stable(SAMPLE_CARD.read_text(encoding="utf-8")) == _stable(fresh), (
        f"{SAMPLE_CARD} is stale: regenerate it with STACKPREF_REGENERATE=1 python -m pytest {__file__}"
    )
    assert str(tmp_path) not in fresh and str(REPO) not in fresh and "/tmp" not in fresh


def test_sample_card_metadata_parses_and_declares_the_build(sample_build):
    card = DatasetCard((sample_build / "README.md").read_text(encoding="utf-8"))
    data = card.data.to_dict()
    manifest = json.loads((sample_build / "manifest.json").read_text())
    assert data["license"] == "cc-by-sa-4.0" and data["language"] == ["en"]
    assert data["task_categories"] == ["text-generation"] and data["size_categories"] == ["n<1K"]
    assert [c["config_name"] for c in data["configs"]] == ["pairs", "sft"]
    for info in data["dataset_info"]:
        counts = manifest["counts"]["splits"][info["config_name"]]
        assert {s["name"]: s["num_examples"] for s in info["splits"]} == counts
    assert validate_build(sample_build).card == data


def test_card_text_holds_options_sources_licences_and_use(sample_build):
    text = (sample_build / "README.md").read_text(encoding="utf-8")
    for name in FIELDS:  # every option that shapes the data; none that only says how the build ran
        shown = re.search(rf"^\| `{name}` \| `[^`]*` \| \S", text, re.MULTILINE)
        assert bool(shown) is (name not in RUN_OPTIONS), name
    assert "| `out` | `\"out\"` |" in text  # a path option by name, not where it was built
    assert "| `coffee.sample.invalid/Posts.xml` | coffee.sample.invalid | posts_xml | 2019-01-08 | 2021-06-03 |" in text
    assert "| pairs | CC BY-SA 4.0 | 76 |" in text and "| sft | CC BY-SA 4.0 | 21 |" in text
    for needle in ("pm_score = round(log2(1 + score))", "only the net score", "## What was dropped, and why",
                   "## Leakage check", "stackpref.load(", 'load_dataset("REPO_ID_OR_PATH", "pairs")',
                   "stackpref train sft", "stackpref train dpo", "DPOTrainer(", "Attribution:"):
        assert needle in text, needle


@needs_shared
def test_real_build_card_validates_and_datasets_reads_the_declared_splits(real_build):
    text = (real_build / "README.md").read_text(encoding="utf-8")
    data = DatasetCard(text).data.to_dict()
    build = validate_build(real_build)
    assert build.card == data
    for info in data["dataset_info"]:
        declared = {s["name"]: s["num_examples"] for s in info["splits"]}
        for loaded in (datasets.load_dataset(str(real_build), info["config_name"]),
                       stackpref.load(real_build, info["config_name"])):
            assert {name: split.num_rows for name, split in loaded.items()} == declared
            assert loaded["train"].column_names == [f["name"] for f in info["features"]]
    assert str(SHARED_SITES.parent) not in text and str(real_build) not in text
    for source in build.manifest["inputs"]:  # the folders are named after the dump's year
        assert source["last_post"][:4] == source["location"].split("/")[-2][-4:], source
        assert source["first_post"] <= source["last_post"]
    licences = {name for counts in build.manifest["counts"]["licenses"].values() for name in counts}
    assert {"CC BY-SA 3.0", "CC BY-SA 4.0"} <= licences  # old posts by date, new ones as the dump states


def test_shipped_card_has_no_absolute_paths():
    text = SAMPLE_CARD.read_text(encoding="utf-8")
    assert not re.search(r"(^|[\s`\"(])/(tmp|home|work|root|Users)/", text)
