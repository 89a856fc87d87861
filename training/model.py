"""Loading the base for QLoRA: tokenizer with a pad that is not EOS, a 4-bit NF4 base, and LoRA on
every linear projection the model really has.

stack_llama_2 padded with EOS, so the collator masked every EOS and trained models never learned
to stop; and its LoRA target list held GPT-J names (`out_proj`, `fc_in`, `fc_out`) that matched
nothing on Llama. Here the pad is a token of its own and the targets come from inspecting the model.
"""

import os
import re
from pathlib import Path

import torch

from stackpref.errors import InputError

NEW_PAD = "<pad>"


def device_type() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def local_device() -> int:
    """This process's GPU: its local rank under `accelerate launch` or `torchrun`, so each rank loads its
    own copy of the base onto its own GPU (the current device would be GPU 0 for every rank, since
    Accelerate sets it only when the Trainer starts); 0 in a single process."""
    from accelerate import PartialState

    return PartialState().local_process_index


def compute_dtype() -> torch.dtype:
    """bf16 on a CUDA device that has it; fp32 otherwise (CPU 4-bit matmuls are exact in fp32)."""
    return torch.bfloat16 if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else torch.float32


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).exists()


def _from_pretrained(loader, name: str, **kwargs):
    """Load from a folder or the local cache first, then the Hub; a miss is one clear error."""
    if _looks_like_path(name):
        if not Path(name).expanduser().is_dir():
            raise InputError(f"--model {name}: no such model folder (it needs config.json and the weights)")
        return loader(str(Path(name).expanduser()), **kwargs)
    try:
        return loader(name, local_files_only=True, **kwargs)
    except OSError:
        pass
    try:
        return loader(name, **kwargs)
    except OSError as exc:
        raise InputError(
            f"--model {name}: not a local folder, not in the Hugging Face cache, and it could not be fetched "
            f"({str(exc).splitlines()[0]}). Pass a local model folder (config.json + weights), download it "
            "first with `hf download`, or use --model tiny for an offline run."
        ) from None


# Special tokens that tokenizers reserve for padding or leave unused, in order of preference: a pad
# found here costs nothing, while a new token resizes the embeddings and the adapter must carry them
# (peft saves the resized embedding and head). Llama-3.1+ `<|finetune_right_pad_id|>`; Qwen's
# `<|endoftext|>` (its pad; the instruct EOS is `<|im_end|>`); then any reserved or unused special.
PAD_CANDIDATES = ("<|finetune_right_pad_id|>", "<|finetune_right_pad|>", "<|endoftext|>", "<|fim_pad|>", "<|pad|>",
                  "<pad>", "[PAD]")
_UNUSED = re.compile(r"reserved|unused", re.IGNORECASE)


def spare_pad_token(tokenizer) -> str | None:
    """A token already in the vocabulary that can pad: the unk token, a known pad name, or a reserved /
    unused special token; never EOS (the collator masks padding, so an EOS pad would never be learned)."""
    added = {t.content: t.special for t in tokenizer.added_tokens_decoder.values()}
    named = [t for t in PAD_CANDIDATES if t in added]  # Qwen's <|fim_pad|> is added but not special
    special = [t for t, is_special in added.items() if is_special]
    for token in (tokenizer.unk_token, *named, *(t for t in special if _UNUSED.search(t))):
        if token is not None and token != tokenizer.eos_token:
            return token
    return None


def load_tokenizer(name: str, trust_remote_code: bool = False):
    """The base's tokenizer, padding on the right with a pad token that is not EOS.

    Order of preference: the tokenizer's own pad; a token it already has that can serve
    (`spare_pad_token`), so the vocabulary does not grow; else a new `<pad>` token (the model's
    embeddings are resized to match).
    """
    from transformers import AutoTokenizer

    tokenizer = _from_pretrained(AutoTokenizer.from_pretrained, name, trust_remote_code=trust_remote_code)
    if tokenizer.eos_token is None:
        raise InputError(f"--model {name}: its tokenizer has no EOS token, so a response could never end")
    if tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        spare = spare_pad_token(tokenizer)
        if spare is not None:
            tokenizer.pad_token = spare
        else:
            tokenizer.add_special_tokens({"pad_token": NEW_PAD})
    tokenizer.padding_side = "right"
    return tokenizer


def use_chat_template(tokenizer, template_file: str | None, where: str, built_with: str | None = None) -> None:
    """For conversational data: the chat template TRL will apply: `template_file` (--chat-template) if
    given, else the one the build counted its lengths with (`built_with`, from its manifest), else the
    tokenizer's own; so training renders rows as the build counted them."""
    if template_file:
        if not Path(template_file).expanduser().is_file():
            raise InputError(f"chat template {template_file}: no such file (pass --chat-template FILE, the one the "
                             "build used)")
        tokenizer.chat_template = Path(template_file).expanduser().read_text(encoding="utf-8")
    elif built_with:
        tokenizer.chat_template = built_with
    if not tokenizer.chat_template:
        raise InputError(f"{where}: the data is conversational but the tokenizer has no chat template; pass "
                         "--chat-template FILE (the one the build used)")


def sharded() -> bool:
    """Whether `accelerate launch` shards the model over the ranks (FSDP, DeepSpeed ZeRO-3): the wrapper
    then places the shards, so the base loads without a device map, and 4-bit weights are stored in
    the compute dtype so they flatten with the rest (FSDP-QLoRA, as bitsandbytes documents it)."""
    return (os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true"
            or os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3")


def quantization_config():
    """4-bit NF4 with double quantization (QLoRA), computing in bf16 on CUDA and fp32 on CPU."""
    from transformers import BitsAndBytesConfig

    storage = {"bnb_4bit_quant_storage": compute_dtype()} if sharded() else {}
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype(), **storage)


def load_base(name: str, tokenizer, *, load_in_4bit: bool = True, attn_implementation: str | None = None,
              trust_remote_code: bool = False):
    """The causal LM, 4-bit when asked, on the GPU when there is one, with embeddings sized to the tokenizer."""
    from transformers import AutoModelForCausalLM

    kwargs = {"dtype": compute_dtype(), "trust_remote_code": trust_remote_code}
    if load_in_4bit:
        kwargs["quantization_config"] = quantization_config()
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if device_type() == "cuda" and not sharded():
        kwargs["device_map"] = {"": local_device()}
    model = _from_pretrained(AutoModelForCausalLM.from_pretrained, name, **kwargs)
    if len(tokenizer) > model.get_input_embeddings().num_embeddings:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = False  # the cache is useless in training and clashes with checkpointing
    return model


def linear_projection_names(model) -> list[str]:
    """Leaf names of every linear layer (plain or bitsandbytes) except the output head."""
    import bitsandbytes as bnb

    head = model.get_output_embeddings()
    linear_types = (torch.nn.Linear, bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
    return sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules()
                   if isinstance(module, linear_types) and module is not head})


def lora_config(model, r: int, alpha: int, dropout: float, targets: list[str] | None = None):
    from peft import LoraConfig

    found = linear_projection_names(model)
    if targets:
        missing = sorted(set(targets) - set(found))
        if missing:
            raise InputError(f"lora_target_modules {missing} match no linear layer of this model "
                             f"(it has: {', '.join(found)})")
    return LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets or found,
                      bias="none", task_type="CAUSAL_LM")
