"""The six real dumps built with the real Llama-2 and Qwen3 tokenizers, standard and conversational:
every row is tokenized by TRL's own DPOTrainer and SFTTrainer to exactly the lengths the build
recorded, none over --max-length, nothing cut or refused; the prompt's tokens are a prefix of
prompt + response's for every pair (the property TRL's completion masks rely on)."""

import json
from pathlib import Path

import datasets
import pytest
from conftest import SHARED_SITES, needs_shared, run_build
from stackpref.training.tiny import build_tiny_model_for
from transformers import AutoTokenizer

from stackpref.errors import ConfigError

TOKENIZERS = SHARED_SITES.parent.parent / "tokenizers"
needs_tokenizers = pytest.mark.skipif(not (TOKENIZERS / "qwen3").is_dir(),
                                      reason=f"{TOKENIZERS} is absent: the real tokenizers live beside the checkout")
pytestmark = [pytest.mark.slow, needs_shared, needs_tokenizers]

# The base Llama-2 tokenizer ships no chat template: its conversational build takes Llama-2-chat's.
LLAMA2_CHAT = Path(__file__).resolve().parents[1] / "training" / "recipes" / "llama2-chat.jinja"
MAX_LENGTH = 768
SYSTEM = "You answer questions from a Stack Exchange site."


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(tokenizer name, format) -> build folder, and the tokenizer's folder."""
    root = tmp_path_factory.mktemp("real-tokenizers")
    template = LLAMA2_CHAT
    folders = {}
    for name in ("llama2", "qwen3"):
        for output_format in ("standard", "conversational"):
            chat = {"system_message": SYSTEM, **({"chat_template": str(template)} if name == "llama2" else {})}
            out = root / f"{name}-{output_format}"
            run_build(out, SHARED_SITES, tokenizer=str(TOKENIZERS / name), format=output_format, max_length=MAX_LENGTH,
                      max_prompt_tokens=384, **(chat if output_format == "conversational" else {}))
            folders[name, output_format] = out
    return folders, template


def _rows(build, config: str) -> datasets.Dataset:
    return datasets.load_dataset("parquet", data_files=str(build / "data" / config / "*.parquet"), split="train")


def _tokenizer(name: str, template):
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZERS / name))
    if name == "llama2":
        tokenizer.chat_template = template.read_text(encoding="utf-8")
    return tokenizer


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-real-vocab")
    return {name: str(build_tiny_model_for(TOKENIZERS / name, root / name)) for name in ("llama2", "qwen3")}


@pytest.mark.parametrize("name", ["llama2", "qwen3"])
@pytest.mark.parametrize("output_format", ["standard", "conversational"])
def test_trl_tokenizes_every_row_to_the_recorded_lengths(built, tiny_models, tmp_path, name, output_format):
    from trl import DPOConfig, DPOTrainer, SFTConfig, SFTTrainer

    folders, template = built
    build = folders[name, output_format]
    tokenizer = _tokenizer(name, template)
    eos = 1 if output_format == "standard" else 0  # TRL appends EOS to a standard row; a chat template writes its own
    common = {"output_dir": str(tmp_path), "report_to": [], "use_cpu": True, "max_length": MAX_LENGTH}
    pairs = _rows(build, "pairs")
    dpo = DPOTrainer(model=tiny_models[name], args=DPOConfig(**common), train_dataset=pairs,
                     processing_class=tokenizer).train_dataset
    assert len(dpo) == len(pairs) > 1000  # none refused
    assert [len(ids) for ids in dpo["prompt_ids"]] == pairs["prompt_length"]
    assert [len(ids) - eos for ids in dpo["chosen_ids"]] == pairs["chosen_length"]
    assert [len(ids) - eos for ids in dpo["rejected_ids"]] == pairs["rejected_length"]
    assert max(p + max(c, r) + eos for p, c, r in zip(pairs["prompt_length"], pairs["chosen_length"],
                                                        pairs["rejected_length"])) <= MAX_LENGTH
    sft_rows = _rows(build, "sft")
    sft = SFTTrainer(model=tiny_models[name], args=SFTConfig(completion_only_loss=True, **common),
                     train_dataset=sft_rows, processing_class=tokenizer).train_dataset
    assert len(sft) == len(sft_rows) > 500
    completion = [sum(label != -100 for label in labels) for labels in sft["labels"]]  # the completion-only loss
    assert [n - eos for n in completion] == sft_rows["completion_length"]
    assert [len(ids) - n for ids, n in zip(sft["input_ids"], completion)] == sft_rows["prompt_length"]
    assert max(len(ids) for ids in sft["input_ids"]) <= MAX_LENGTH


def _encode(tokenizer, prompt, response, conversational: bool) -> tuple[list[int], list[int]]:
    """Tokens of the prompt alone and of prompt + response, each as TRL makes them."""
    if conversational:
        alone = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=True)
        whole = tokenizer.apply_chat_template(prompt + response, tokenize=True, return_dict=True)
        return alone["input_ids"], whole["input_ids"]
    return tokenizer(prompt)["input_ids"], tokenizer(prompt + response + tokenizer.eos_token)["input_ids"]


@pytest.mark.parametrize("name", ["llama2", "qwen3"])
@pytest.mark.parametrize("output_format", ["standard", "conversational"])
def test_prompt_tokens_are_a_prefix_of_prompt_and_response(built, name, output_format):
    folders, template = built
    tokenizer = _tokenizer(name, template)
    pairs = _rows(folders[name, output_format], "pairs")
    broken = []
    for row in pairs.select_columns(["prompt", "chosen", "rejected"]):
        for side in ("chosen", "rejected"):
            alone, whole = _encode(tokenizer, row["prompt"], row[side], output_format == "conversational")
            if whole[: len(alone)] != alone:
                broken.append((row["prompt"], side))
    assert len(pairs) > 1000 and broken == []


def test_manifest_and_card_declare_the_conversational_format(built):
    folders, _ = built
    build = folders["qwen3", "conversational"]
    assert json.loads((build / "manifest.json").read_text())["config"]["format"] == "conversational"
    loaded = datasets.load_dataset(str(build), "pairs")["train"]
    row = loaded[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"] and row["prompt"][0]["content"] == SYSTEM
    assert [m["role"] for m in row["chosen"]] == ["assistant"] == [m["role"] for m in row["rejected"]]
    message = {"role": datasets.Value("string"), "content": datasets.Value("string")}
    assert loaded.features["prompt"] == loaded.features["chosen"] == datasets.List(message)
    sft = datasets.load_dataset(str(build), "sft")["train"][0]
    assert [m["role"] for m in sft["completion"]] == ["assistant"]


def test_tokenizer_without_chat_template_stops_the_build(tmp_path):
    with pytest.raises(ConfigError, match="has no chat template.*--chat-template FILE"):
        run_build(tmp_path / "out", SHARED_SITES / "beer-2017", tokenizer=str(TOKENIZERS / "llama2"),
                  format="conversational")
    assert not (tmp_path / "out").exists()
