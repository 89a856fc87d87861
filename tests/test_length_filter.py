"""Token lengths from a real (locally trained) tokenizer; drops, never truncation; token boundary."""


import polars as pl
import pytest
from conftest import run_build
from stackpref.training.tiny import train_tokenizer
from transformers import PreTrainedTokenizerFast

from stackpref.sources import bundled_sample

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A byte-level BPE tokenizer (GPT-2 style: a space joins the word after it) trained on the sample."""
    folder = tmp_path_factory.mktemp("tok")
    train_tokenizer(bundled_sample().read_text(encoding="utf-8-sig").splitlines(), vocab_size=600).save_pretrained(folder)
    return folder


def count(tokenizer, text, special=False):
    return len(tokenizer(text, add_special_tokens=special)["input_ids"])


def test_lengths_are_token_counts_and_long_rows_are_dropped(tmp_path, tokenizer_dir):
    out = tmp_path / "out"
    manifest = run_build(out, tokenizer=str(tokenizer_dir), max_prompt_tokens=300, max_length=600,
                         split={"sft": 0.0, "train": 1.0, "test": 0.0})
    assert manifest["length_unit"] == "tokens"
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    pairs = pl.read_parquet(out / "data" / "pairs" / "*.parquet")
    for row in pairs.head(20).iter_rows(named=True):
        assert row["prompt_length"] == count(tokenizer, row["prompt"], special=True)
        assert row["chosen_length"] == count(tokenizer, row["chosen"])
    assert (pairs["prompt_length"] <= 300).all()
    assert (pairs["prompt_length"] + pairs[["chosen_length", "rejected_length"]].max_horizontal() + 1 <= 600).all()
    funnel = manifest["counts"]["funnel"]
    assert funnel["questions"]["dropped"]["prompt_too_long"] > 0
    assert funnel["answers"]["dropped"]["answer_too_long"] > 0
    # Dropped, not truncated: every response is a whole answer ending where the answer ends.
    full = run_build(tmp_path / "full", split={"sft": 0.0, "train": 1.0, "test": 0.0})
    whole = pl.read_parquet(tmp_path / "full" / "data" / "pairs" / "*.parquet").select("chosen_id", "chosen").unique()
    joined = pairs.select("chosen_id", "chosen").unique().join(whole, on="chosen_id", suffix="_full")
    assert joined.height > 0 and (joined["chosen"] == joined["chosen_full"]).all()
    assert full["length_unit"] == "characters"


def test_token_boundary_makes_prompt_and_response_tokenize_apart_as_together(tmp_path, tokenizer_dir):
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)

    def clean_share(out):
        pairs = pl.read_parquet(out / "data" / "pairs" / "*.parquet")
        same = [
            tokenizer(p, add_special_tokens=False)["input_ids"] + tokenizer(c, add_special_tokens=False)["input_ids"]
            == tokenizer(p + c, add_special_tokens=False)["input_ids"]
            for p, c in pairs.select("prompt", "chosen").iter_rows()
        ]
        return sum(same) / len(same)

    run_build(tmp_path / "on", token_boundary=True)
    run_build(tmp_path / "off", token_boundary=False)
    assert clean_share(tmp_path / "on") == 1.0
    assert clean_share(tmp_path / "off") < 0.5
    on = pl.read_parquet(tmp_path / "on" / "data" / "pairs" / "*.parquet")
    assert on["prompt"].str.ends_with("Answer:").all() and on["chosen"].str.starts_with(" ").all()


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    from click.testing import CliRunner

    from stackpref.cli import cli

    result = CliRunner().invoke(cli, ["build", "--tokenizer", str(tmp_path / "no-such-tok"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "--tokenizer" in result.output and "no-such-tok" in result.output and not (tmp_path / "o").exists()


def test_missing_tokenizer_folder_fails_before_any_work(tmp_path):
    from click.testing import CliRunner

    from stackpref.cli import cli

    result = CliRunner().invoke(cli, ["build", "--out", str(tmp_path / "out"), "--tokenizer", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "no such folder" in result.output
    assert not (tmp_path / "out").exists()


def test_workers_count_the_same_tokens_as_one_process(tmp_path, tokenizer_dir):
    """Workers rebuild the tokenizer from its serialized backend, without transformers: same bytes out."""
    options = {"tokenizer": str(tokenizer_dir), "max_prompt_tokens": 200, "max_length": 400}
    run_build(tmp_path / "one", workers=1, **options)
    run_build(tmp_path / "two", workers=2, **options)
    for path in sorted((tmp_path / "one" / "data").rglob("*.parquet")):
        assert path.read_bytes() == (tmp_path / "two" / path.relative_to(tmp_path / "one")).read_bytes()
