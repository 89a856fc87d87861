"""`--format conversational` without ../shared: the options' checks, the meter's chat-template counts
(against transformers' own apply_chat_template), and a build of the bundled sample whose rows are
TRL's conversational format and whose over-long rows are dropped by their rendered length."""

import hashlib
import json

import polars as pl
import pytest
from click.testing import CliRunner
from conftest import run_build
from stackpref.training.data import built_chat_template
from stackpref.training.model import use_chat_template
from stackpref.training.tiny import train_tokenizer
from transformers import PreTrainedTokenizerFast

from stackpref.cli import cli
from stackpref.config import BuildConfig
from stackpref.errors import ConfigError
from stackpref.pipeline.meter import ChatFormat, LengthMeter
from stackpref.sources import bundled_sample


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    """A byte-level BPE trained on the sample, with the tiny model's minimal chat template."""
    folder = tmp_path_factory.mktemp("tok")
    train_tokenizer(bundled_sample().read_text(encoding="utf-8-sig").splitlines(), vocab_size=600).save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("options", "message"), [
    ({"system_message": "Be brief."}, "apply to conversational output"),
    ({"format": "conversational", "prompt_template": "Q: {question}\nA:"}, "prompt_template applies to standard"),
    ({"format": "conversational", "chat_template": "/nonexistent.jinja"}, "no such file"),
    ({"format": "chat"}, "format must be standard or conversational"),
])
def test_chat_options_are_checked(options, message):
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**options)


def test_meter_counts_what_apply_chat_template_makes(tokenizer_dir):
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    chat = ChatFormat(tokenizer.chat_template, tuple(sorted(tokenizer.special_tokens_map.items())), "Be brief.")
    meter = LengthMeter.from_spec(LengthMeter(tokenizer.backend_tokenizer, 0, chat).spec())  # as a worker has it
    questions, answers = ["How do I brew a stout?", "Why is my beer flat?"], ["Roast the barley.", "Prime it."]
    prompts = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": q}] for q in questions]
    alone = [len(tokenizer.apply_chat_template(p, add_generation_prompt=True)["input_ids"]) for p in prompts]
    whole = [len(tokenizer.apply_chat_template(p + [{"role": "assistant", "content": a}])["input_ids"])
             for p, a in zip(prompts, answers)]
    assert meter.measure(questions, prompt=True) == alone
    assert meter.measure_responses(questions, answers, alone) == [w - a for w, a in zip(whole, alone)]
    assert all(w > a for w, a in zip(whole, alone)) and meter.eos_tokens == 0


@pytest.mark.slow
def test_sample_builds_in_the_conversational_format(tmp_path, tokenizer_dir):
    out = tmp_path / "out"
    run_build(out, tokenizer=str(tokenizer_dir), format="conversational", max_prompt_tokens=200, max_length=400,
              split={"sft": 0.5, "train": 0.5, "test": 0.0})
    pairs = pl.read_parquet(out / "data" / "pairs" / "*.parquet")
    sft = pl.read_parquet(out / "data" / "sft" / "*.parquet")
    assert pairs.height and sft.height
    assert pairs["prompt"].list.eval(pl.element().struct.field("role")).to_list()[0] == ["user"]
    assert set(pairs["chosen"].list.eval(pl.element().struct.field("role")).explode()) == {"assistant"}
    assert set(sft["completion"].list.len()) == {1}
    assert (pairs["prompt_length"] + pairs[["chosen_length", "rejected_length"]].max_horizontal() <= 400).all()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    recorded = json.loads((out / "manifest.json").read_text())["chat_template"]
    assert recorded["text"] == tokenizer.chat_template == built_chat_template(str(out))
    assert recorded["sha256"] == hashlib.sha256(tokenizer.chat_template.encode()).hexdigest()
    for row in pairs.head(20).iter_rows(named=True):
        alone = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True)["input_ids"]
        whole = tokenizer.apply_chat_template(row["prompt"] + row["chosen"])["input_ids"]
        assert (row["prompt_length"], row["chosen_length"]) == (len(alone), len(whole) - len(alone))


def test_build_help_explains_the_chat_options():
    result = CliRunner().invoke(cli, ["build", "--help"])
    assert result.exit_code == 0
    assert "--format [standard|conversational]" in result.output
    assert "--system-message" in result.output and "--chat-template" in result.output


def test_training_takes_the_template_the_build_counted_with(tmp_path, tokenizer_dir):
    """A build with --chat-template FILE keeps the template in its manifest: training renders rows with
    it (not the tokenizer's own) after the file is gone; --chat-template still overrides it."""
    template = tmp_path / "plain.jinja"
    template.write_text("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
                        "{% if add_generation_prompt %}<assistant>{% endif %}")
    out = tmp_path / "out"
    run_build(out, tokenizer=str(tokenizer_dir), format="conversational", chat_template=str(template),
              split={"sft": 0.5, "train": 0.5, "test": 0.0})
    text = template.read_text()
    template.unlink()
    tokenizer = PreTrainedTokenizerFast.from_pretrained(tokenizer_dir)
    assert tokenizer.chat_template != text
    use_chat_template(tokenizer, None, "tiny", built_chat_template(str(out)))
    assert tokenizer.chat_template == text
    other = tmp_path / "other.jinja"
    other.write_text("{% for m in messages %}{{ m['content'] }}{% endfor %}")
    use_chat_template(tokenizer, str(other), "tiny", built_chat_template(str(out)))
    assert tokenizer.chat_template == other.read_text()
