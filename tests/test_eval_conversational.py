"""`stackpref eval` on conversational builds (TRL's message lists): the chat template training applied
renders the pairs, eval's implicit rewards equal `DPOTrainer.evaluate()`'s on the same checkpoint and
pairs, win-rate answers come from the chat-templated prompt, and the report names the format and the
template. A tiny model trained in the test (its tokenizer has a small chat template); the real Qwen3
tokenizer, where ../shared has it, for the token ids TRL's DPOTrainer makes."""

import json

import polars as pl
import pytest
import torch
from click.testing import CliRunner
from conftest import SHARED_SITES, run_build
from stackpref.eval import chat, models, scoring
from stackpref.eval.compare import compare
from stackpref.eval.config import EvalConfig
from stackpref.eval.data import load_pairs
from stackpref.eval.generate import generate_hf
from stackpref.eval.report import markdown as markdown_of
from stackpref.training import train
from trl_reference import assert_equal_to_trl, eval_and_trl, with_swapped

import stackpref
from stackpref.cli import cli
from stackpref.errors import InputError

pytestmark = pytest.mark.slow

SYSTEM = "Answer in one paragraph."
QWEN3 = SHARED_SITES.parent.parent / "tokenizers" / "qwen3"
# Another template for the tiny tokenizer: the same turns in other words, so tokens and scores change.
OTHER_TEMPLATE = ("{% for m in messages %}{{ m['role'] + ': ' + m['content'] + eos_token }}{% endfor %}"
                  "{% if add_generation_prompt %}{{ 'assistant: ' }}{% endif %}")


def run_cli(*args, code: int = 0):
    result = CliRunner().invoke(cli, ["eval", *map(str, args), "-q"])
    assert result.exit_code == code, result.output
    return result


def report(out) -> dict:
    return json.loads((out / "report.json").read_text())


@pytest.fixture(scope="module")
def chat_build(tmp_path_factory):
    """The easy synthetic site (tests/easy_site.py) built in the conversational format with a system turn."""
    from easy_site import write_easy_site

    root = tmp_path_factory.mktemp("easy-chat")
    write_easy_site(root / "dump")
    stackpref.build(stackpref.BuildConfig(sources=[str(root / "dump")], out=str(root / "build"), near_dup=False,
                                          format="conversational", system_message=SYSTEM,
                                          split={"sft": 0.3, "train": 0.4, "test": 0.3}))
    return root / "build"


@pytest.fixture(scope="module")
def chat_dpo(chat_build, tmp_path_factory):
    """SFT then DPO with the tiny-cpu recipe on the conversational build (the tiny tokenizer's template),
    full precision and training's own final eval cut short, for speed (test_eval.py covers 4-bit). One
    torch thread: at hidden size 64 a second one gains nothing, and on a busy 2-core runner its
    OpenMP waits made training 5x slower (34 s against 7 s, measured)."""
    root = tmp_path_factory.mktemp("chat-runs")
    quick = {"logging_steps": 100, "load_in_4bit": False, "max_eval_samples": 4}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        sft = train("sft", recipe="tiny-cpu", data=str(chat_build), output=str(root / "sft"), max_steps=10, **quick)
        return train("dpo", recipe="tiny-cpu", data=str(chat_build), sft=str(sft), output=str(root / "dpo"),
                     max_steps=8, **quick)
    finally:
        torch.set_num_threads(threads)


def test_implicit_reward_equals_trl_dpo_trainer_evaluate(chat_dpo, chat_build, tmp_path):
    """The same checkpoint and message-list pairs through DPOTrainer.evaluate() (reference: a frozen copy
    of the SFT adapter, as in training) and through eval, fp32: the same token ids, accuracy and mean
    margin within 1e-4."""
    frame = with_swapped(load_pairs(str(chat_build)))
    assert chat.data_format(frame) == chat.CONVERSATIONAL
    ours, theirs, loaded, trainer = eval_and_trl(chat_dpo, chat_build, frame, tmp_path)
    tokenized = scoring.tokenize(loaded.tokenizer, *(frame[c].to_list() for c in ("prompt", "chosen", "rejected")))
    theirs_ids = trainer.eval_dataset
    assert tokenized.prompts == theirs_ids["prompt_ids"]
    assert tokenized.responses == [theirs_ids["chosen_ids"], theirs_ids["rejected_ids"]]
    assert loaded.tokenizer.eos_token_id in tokenized.responses[0][0]  # the template ends the assistant turn
    assert_equal_to_trl(ours, theirs)


def test_report_names_the_format_and_the_template_training_used(chat_dpo, chat_build, tmp_path):
    """Given only the checkpoint, eval takes the data and the format from train_config.yaml, renders with
    the template the run saved, and says so; win-rate prompts stay message lists and answers are text."""
    result = run_cli(chat_dpo, "--output", tmp_path / "out", "--no-ref-cache", "--judge", "implicit",
                     "--allow-self-judge", "--num-prompts", 3, "--max-new-tokens", 6, "--bootstrap", 50)
    built = report(tmp_path / "out")
    section = built["prompt_format"]
    test_pairs = load_pairs(str(chat_build))
    assert built["data"]["from_train_config"][0] == "data" and built["data"]["pairs"] == test_pairs.height
    assert section["format"] == "conversational" and section["trained_on"] == "conversational"
    assert section["chat_template"]["from"] == "checkpoint"
    assert section["chat_template"]["differs_from_training"] is False
    assert section["system_message"] == {"prompts_with_one": test_pairs.height, "of": test_pairs.height,
                                         "distinct": 1, "texts": [SYSTEM], "trained_with": SYSTEM}
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "trained with the system message" not in markdown and "trained on standard" not in markdown
    section["system_message"]["trained_with"] = None  # as if training's build had no system turn
    assert 'trained with the system message "(none)"' in markdown_of(built)
    assert "format: conversational (message lists of the data the checkpoint was trained on)" in markdown
    assert f"chat template: the tokenizer saved in {chat_dpo} (as training applied it)" in markdown
    assert f'system message: "{SYSTEM}" in {test_pairs.height} of {test_pairs.height} prompts' in markdown
    assert "format: conversational; chat template: the tokenizer saved" in result.output
    rows = [json.loads(line) for line in (tmp_path / "out" / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == 3
    for row, prompt in zip(rows, test_pairs.unique("prompt", maintain_order=True)["prompt"].to_list()):
        assert row["prompt"] == prompt and isinstance(row["model"], str)
        assert row["baseline"] in {c[0]["content"] for c in test_pairs["chosen"].to_list()}


def test_generation_answers_the_chat_templated_prompt(chat_dpo, chat_build):
    """The win-rate answer is what the model generates after the prompt's chat template with the
    assistant's generation prompt, decoded to text (greedy, so one answer)."""
    loaded = models.load(str(chat_dpo), load_in_4bit=False)
    prompt = load_pairs(str(chat_build))["prompt"].to_list()[0]
    config = EvalConfig(checkpoint=str(chat_dpo), max_new_tokens=8)
    answer = generate_hf(loaded.model, loaded.tokenizer, [prompt], config)[0]
    ids = loaded.tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True)["input_ids"]
    assert loaded.tokenizer.decode(ids[0]).endswith("<|assistant|>\n")
    with torch.inference_mode():
        expected = loaded.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                         max_new_tokens=8, pad_token_id=loaded.tokenizer.pad_token_id)
    assert answer == loaded.tokenizer.decode(expected[0, ids.shape[1]:], skip_special_tokens=True)


def test_chat_template_option_overrides_and_is_reported(chat_dpo, chat_build, tmp_path):
    """--chat-template renders the pairs with another template: other token ids, other rewards; the
    report says the template is not the one the checkpoint was trained with, and --compare flags it."""
    template = tmp_path / "other.jinja"
    template.write_text(OTHER_TEMPLATE)
    for name, extra in (("own", ()), ("other", ("--chat-template", template))):
        run_cli(chat_dpo, "--data", chat_build, "--output", tmp_path / name, "--no-ref-cache", "--bootstrap", 50,
                *extra)
    own, other = report(tmp_path / "own"), report(tmp_path / "other")
    assert other["prompt_format"]["chat_template"]["from"] == "option"
    assert other["prompt_format"]["chat_template"]["differs_from_training"] is True
    assert other["prompt_format"]["chat_template"]["xxh3"] != own["prompt_format"]["chat_template"]["xxh3"]
    margins = [r["reward_accuracy"]["implicit_reward"]["overall"]["mean_margin"] for r in (own, other)]
    assert margins[0] != margins[1]
    assert "overriding the one the checkpoint was trained with" in (tmp_path / "other" / "report.md").read_text()
    assert "chat templates differ" in compare(tmp_path / "own", tmp_path / "other")


def test_refusals_are_one_clear_line(chat_dpo, chat_build, easy_build, tmp_path):
    """A chat template on text pairs, and message-list pairs with a tokenizer that has no template."""
    template = tmp_path / "other.jinja"
    template.write_text(OTHER_TEMPLATE)
    result = run_cli(chat_dpo, "--data", easy_build, "--chat-template", template, code=2)
    assert "the pairs are standard (text prompts)" in result.output
    tokenizer, _ = models.tokenizer_of(models.describe(str(chat_dpo)))
    tokenizer.chat_template = None
    bare = models.Checkpoint(str(tmp_path), models.CAUSAL)
    with pytest.raises(InputError, match="no chat template; pass --chat-template FILE"):
        chat.use_template(tokenizer, None, bare, saved_with_checkpoint=True)


@pytest.mark.skipif(not QWEN3.is_dir(), reason=f"{QWEN3} is absent: the real tokenizers live beside the checkout")
def test_qwen3_token_ids_equal_trl_trainers_tokenization(tmp_path):
    """The real Qwen3 tokenizer and chat template on a conversational build of the bundled sample: eval's
    prompt, chosen and rejected ids of a few pairs equal those TRL's DPOTrainer prepares from the rows,
    and its reward-model sequences those RewardTrainer prepares."""
    from datasets import Dataset
    from stackpref.training.tiny import build_tiny_model_for
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
    from trl import DPOConfig, DPOTrainer, RewardConfig, RewardTrainer

    run_build(tmp_path / "build", format="conversational", system_message=SYSTEM)
    frame = load_pairs(str(tmp_path / "build")).head(6)
    assert frame.height == 6 and frame["prompt"].list.first().struct.field("content").eq(SYSTEM).all()
    tokenizer = AutoTokenizer.from_pretrained(str(QWEN3))
    model = AutoModelForCausalLM.from_pretrained(str(build_tiny_model_for(QWEN3, tmp_path / "tiny", layers=1)))
    rows = Dataset.from_list(frame.select("prompt", "chosen", "rejected").to_dicts())
    args = DPOConfig(output_dir=str(tmp_path / "trl"), max_length=None, use_cpu=True, report_to=[],
                     precompute_ref_log_probs=False)
    prepared = DPOTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer).train_dataset
    prompts, chosen, rejected = (frame[c].to_list() for c in ("prompt", "chosen", "rejected"))
    ours = scoring.tokenize(tokenizer, prompts, chosen, rejected)
    assert ours.prompts == prepared["prompt_ids"]
    assert ours.responses == [prepared["chosen_ids"], prepared["rejected_ids"]]
    assert tokenizer.decode(ours.prompts[0]).endswith("<|im_start|>assistant\n")

    # A reward model (and the reward-model judge) reads prompt + answer as RewardTrainer tokenizes it.
    scorer = AutoModelForSequenceClassification.from_pretrained(str(tmp_path / "tiny"), num_labels=1)
    reward_args = RewardConfig(output_dir=str(tmp_path / "rm"), max_length=None, use_cpu=True, report_to=[])
    reward_rows = RewardTrainer(model=scorer, args=reward_args, train_dataset=rows,
                                processing_class=tokenizer).train_dataset
    assert scoring.reward_tokens(tokenizer, prompts, chosen) == reward_rows["chosen_ids"]
    assert scoring.reward_tokens(tokenizer, prompts, rejected) == reward_rows["rejected_ids"]


def test_message_list_files_read_like_the_build(chat_build, tmp_path):
    """A .jsonl.gz and a Parquet file of message-list pairs load as the build's pairs (same data hash);
    a file mixing text and message lists is refused in one line."""
    import gzip

    from stackpref.eval.data import data_hash

    frame = load_pairs(str(chat_build)).select("prompt", "chosen", "rejected")
    jsonl = tmp_path / "pairs.jsonl.gz"
    jsonl.write_bytes(gzip.compress("".join(json.dumps(row) + "\n" for row in frame.to_dicts()).encode()))
    frame.write_parquet(tmp_path / "pairs.parquet")
    for path in (jsonl, tmp_path / "pairs.parquet"):
        read = load_pairs(str(path))
        assert chat.data_format(read) == chat.CONVERSATIONAL and data_hash(read) == data_hash(frame)
    mixed = frame.with_columns(chosen=pl.col("chosen").list.last().struct.field("content"))
    mixed.write_parquet(tmp_path / "mixed.parquet")
    with pytest.raises(InputError, match="must all be text or all be message lists") as refused:
        load_pairs(str(tmp_path / "mixed.parquet"))
    assert "\n" not in str(refused.value)


def test_standard_pairs_on_a_chat_checkpoint_are_flagged(chat_dpo, easy_build, tmp_path):
    """Text pairs scored with a checkpoint trained on message lists: the report says standard and warns."""
    run_cli(chat_dpo, "--data", easy_build, "--output", tmp_path / "out", "--no-ref-cache", "--bootstrap", 50)
    section = report(tmp_path / "out")["prompt_format"]
    assert section == {"format": "standard", "trained_on": "conversational", "chat_template": None}
    assert "the checkpoint was trained on conversational data" in (tmp_path / "out" / "report.md").read_text()


def test_max_length_from_train_config_drops_what_training_drops(chat_dpo, chat_build, tmp_path):
    """A copy of the run whose train_config.yaml says a shorter max_length: eval drops exactly the
    message-list pairs training's own filter (chat template applied) drops."""
    import shutil

    import yaml
    from datasets import Dataset
    from stackpref.training.data import drop_over_length, token_lengths

    run = tmp_path / "dpo"
    shutil.copytree(chat_dpo, run)
    saved = yaml.safe_load((run / "train_config.yaml").read_text())
    tokenizer, _ = models.tokenizer_of(models.describe(str(run)))
    pairs = Dataset.from_list(load_pairs(str(chat_build)).select("prompt", "chosen", "rejected").to_dicts())
    saved["max_length"] = sorted(token_lengths(pairs, tokenizer, ("chosen", "rejected")))[len(pairs) // 2]
    (run / "train_config.yaml").write_text(yaml.safe_dump(saved))
    kept, dropped = drop_over_length(pairs, tokenizer, saved["max_length"], "pairs/test")
    assert 0 < dropped < len(pairs)

    run_cli(run, "--data", chat_build, "--output", tmp_path / "out", "--no-ref-cache", "--bootstrap", 50)
    data = report(tmp_path / "out")["data"]
    assert data["max_length"] == saved["max_length"] and data["from_train_config"] == ["max_length"]
    assert (data["dropped_over_max_length"], data["scored"]) == (dropped, len(kept))
