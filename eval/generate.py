"""Responses to held-out prompts: batched `generate` with transformers (prompts length-sorted and
left-padded, greedy or sampled, stopping at EOS), or vLLM when it is installed and there is a GPU.
Conversational prompts are chat-templated with the generation prompt; the answer is the assistant text."""

import importlib.util

import numpy as np
from stackpref.eval.chat import is_chat
from stackpref.eval.config import EvalConfig
from stackpref.eval.models import ADAPTER, Loaded
from stackpref.eval.scoring import encode

from stackpref.errors import MissingDependencyError


def use_vllm(config: EvalConfig) -> bool:
    import torch

    available = importlib.util.find_spec("vllm") is not None and torch.cuda.is_available()
    if config.engine == "vllm" and not available:
        raise MissingDependencyError("--engine vllm needs vllm and a CUDA GPU: pip install vllm (or use --engine hf)")
    return config.engine == "vllm" or (config.engine == "auto" and available)


def generate(loaded: Loaded, prompts: list, config: EvalConfig, progress) -> list[str]:
    """One response per prompt with the checkpoint's own adapter active."""
    progress.step("generating")
    with loaded.policy() as model:
        return generate_hf(model, loaded.tokenizer, prompts, config, progress)


def generate_hf(model, tokenizer, prompts: list, config: EvalConfig, progress=None) -> list[str]:
    """Text prompts as tokenized for scoring; message lists chat-templated with the generation prompt, so
    the model answers as the assistant. Returns the answers' text (special tokens dropped)."""
    import torch

    torch.manual_seed(config.seed)
    encoded = encode(tokenizer, prompts, generation_prompt=True)
    order = np.argsort([-len(ids) for ids in encoded], kind="stable")
    sampling = config.temperature > 0
    options = {"do_sample": sampling, "max_new_tokens": config.max_new_tokens, "use_cache": True,
               "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    if sampling:
        options.update(temperature=config.temperature, top_p=config.top_p)
    else:  # a checkpoint's generation_config may ask for sampling; greedy means greedy
        options.update(temperature=None, top_p=None, top_k=None)
    device = next(model.parameters()).device
    out = [""] * len(prompts)
    with torch.inference_mode():
        for start in range(0, len(order), config.generation_batch_size):
            rows = order[start:start + config.generation_batch_size]
            longest = max(len(encoded[i]) for i in rows)
            ids = torch.full((len(rows), longest), tokenizer.pad_token_id, dtype=torch.long)
            attention = torch.zeros_like(ids)
            for k, i in enumerate(rows):  # left padding: every prompt ends where generation starts
                ids[k, longest - len(encoded[i]):] = torch.tensor(encoded[i])
                attention[k, longest - len(encoded[i]):] = 1
            generated = model.generate(input_ids=ids.to(device), attention_mask=attention.to(device), **options)
            for i, text in zip(rows, tokenizer.batch_decode(generated[:, longest:], skip_special_tokens=True)):
                out[i] = text
            if progress is not None:
                progress.advance(len(rows), "prompts")
    return out


def generate_vllm(checkpoint, load_in_4bit: bool, prompts: list, config: EvalConfig, tokenizer) -> list[str]:
    """vLLM generation of a merged model or base + LoRA adapter. Called before any transformers model is
    on the GPU, holding at most half its memory, and released after, so scoring fits beside it. Message
    lists go in as the token ids `tokenizer` renders (the template eval chose), not re-rendered by vLLM."""
    import gc
    import json
    from pathlib import Path

    import torch
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    adapter = checkpoint.kind == ADAPTER
    folder = Path(checkpoint.path)
    options = {}
    if adapter:
        rank = json.loads((folder / "adapter_config.json").read_text())["r"]
        options = {"enable_lora": True, "max_lora_rank": max(16, rank)}
    llm = LLM(model=checkpoint.base if adapter else checkpoint.path,
              tokenizer=checkpoint.path if (folder / "tokenizer_config.json").is_file() else None,
              quantization="bitsandbytes" if load_in_4bit else None, seed=config.seed, gpu_memory_utilization=0.5,
              trust_remote_code=config.trust_remote_code, **options)
    params = SamplingParams(temperature=config.temperature, top_p=config.top_p, max_tokens=config.max_new_tokens,
                            seed=config.seed)
    request = LoRARequest("policy", 1, checkpoint.path) if adapter else None
    if is_chat(prompts):
        prompts = [{"prompt_token_ids": ids} for ids in encode(tokenizer, prompts, generation_prompt=True)]
    texts = [result.outputs[0].text for result in llm.generate(prompts, params, lora_request=request)]
    del llm
    gc.collect()
    torch.cuda.empty_cache()
    return texts
