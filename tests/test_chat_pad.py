"""The pad token comes from the tokenizer's own vocabulary whenever it has one that can serve, so the
embeddings are never resized (a new token would make the adapter carry the embedding and head)."""

import pytest
from conftest import SHARED_SITES
from stackpref.training.model import load_base, load_tokenizer
from stackpref.training.tiny import build_tiny_model_for
from transformers import AutoTokenizer

pytestmark = pytest.mark.slow
TOKENIZERS = SHARED_SITES.parent.parent / "tokenizers"
needs_tokenizers = pytest.mark.skipif(not (TOKENIZERS / "qwen3").is_dir(),
                                      reason=f"{TOKENIZERS} is absent: the real tokenizers live beside the checkout")


@needs_tokenizers
@pytest.mark.parametrize(("name", "pad"), [("llama2", "<unk>"), ("qwen3", "<|endoftext|>")])
def test_real_tokenizers_pad_without_a_new_token(tmp_path, name, pad):
    model_dir = build_tiny_model_for(TOKENIZERS / name, tmp_path / name)
    original = AutoTokenizer.from_pretrained(str(TOKENIZERS / name))
    tokenizer = load_tokenizer(str(model_dir))
    assert tokenizer.pad_token == pad and tokenizer.pad_token_id != tokenizer.eos_token_id
    assert len(tokenizer) == len(original)
    model = load_base(str(model_dir), tokenizer)
    assert model.get_input_embeddings().num_embeddings == model.config.vocab_size == -(-len(original) // 64) * 64
    assert model.config.pad_token_id == tokenizer.pad_token_id


def _variant(tmp_path, name: str, eos: str, added: list[str], unk: bool = True):
    """A real tokenizer changed to look like another family's: its pad dropped, its EOS set, tokens added."""
    tokenizer = AutoTokenizer.from_pretrained(str(TOKENIZERS / name))
    tokenizer.add_special_tokens({"additional_special_tokens": added})
    tokenizer.pad_token, tokenizer.eos_token = None, eos
    if not unk:
        tokenizer.unk_token = None
    tokenizer.save_pretrained(tmp_path / "variant")
    return str(tmp_path / "variant"), len(tokenizer)


@needs_tokenizers
@pytest.mark.parametrize(("name", "eos", "added", "unk", "pad"), [
    ("qwen3", "<|endoftext|>", [], True, "<|fim_pad|>"),  # a Qwen base: pad == EOS, so another spare
    ("qwen3", "<|im_end|>", ["<|finetune_right_pad_id|>"], True, "<|finetune_right_pad_id|>"),  # Llama-3.1's pad
    ("llama2", "</s>", ["<|reserved_special_token_0|>"], False, "<|reserved_special_token_0|>"),  # reserved only
])
def test_spare_special_tokens_serve_as_pad(tmp_path, name, eos, added, unk, pad):
    folder, size = _variant(tmp_path, name, eos, added, unk)
    tokenizer = load_tokenizer(folder)
    assert tokenizer.pad_token == pad != tokenizer.eos_token
    assert len(tokenizer) == size
