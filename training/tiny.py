"""A tiny random-init Llama and a tokenizer trained on the caller's text, saved to a folder.

It stands in for a real base model wherever nothing may be downloaded (tests, the `tiny-cpu`
recipe): same architecture family and the same code path as Llama-2, small enough to train on a
CPU in seconds. Its tokenizer is a byte-level BPE, so any text round-trips, with a pad token of its
own (never EOS) so that padding masks can never hide the end of a response.
"""

from collections.abc import Iterable
from pathlib import Path

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
# A minimal chat template, so a conversational build trains on the tiny model too: each turn is its
# role's tag, its content and EOS; the generation prompt is the assistant's tag.
CHAT_TEMPLATE = ("{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + eos_token }}{% endfor %}"
                 "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}")


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts`, with pad/bos/eos specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   padding_side="right", chat_template=CHAT_TEMPLATE)


def build_tiny_model(texts: Iterable[str], out_dir: str | Path, *, vocab_size: int = 1024, hidden_size: int = 64,
                     layers: int = 2, seed: int = 0) -> Path:
    """Save a random-init `LlamaForCausalLM` (2 layers, hidden 64 by default) and its tokenizer to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    tokenizer = train_tokenizer(texts, vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_model_for(tokenizer_dir: str | Path, out_dir: str | Path, *, hidden_size: int = 64, layers: int = 2,
                         seed: int = 0) -> Path:
    """Save a random-init Qwen3-shaped model (2 layers, hidden 64: bitsandbytes' CPU 4-bit kernel needs
    64+ inputs) sized to a real tokenizer's vocabulary (rounded up to a multiple of 64, as real
    checkpoints are), with that tokenizer, to `out_dir`: the real tokenizer's code path (chat
    template, pad, specials) on a model that trains on a CPU."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    out = Path(out_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = Qwen3Config(
        vocab_size=-(-len(tokenizer) // 64) * 64, hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2, head_dim=hidden_size // 4,
        max_position_embeddings=4096, eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    Qwen3ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
