"""Log-probabilities of responses and reward-model scores, fast and exactly as TRL computes them.

Exact: pairs are tokenized the way TRL's DPOTrainer does (text: EOS appended to each response; message
lists: the chat template, the prompt with the generation prompt; prompt, prompt+chosen and
prompt+rejected tokenized whole; the completion starts where the tokenized prompt stops being a
prefix of both), and a response's log-prob is the sum over its tokens, so the implicit
reward equals `DPOTrainer.evaluate()`'s.

Fast: rows are sorted by length and packed into batches under a padded-token budget (little
padding); the chosen and rejected of a pair share a batch; the LM head runs only on response
positions (a prompt's logits are never built); everything runs under `inference_mode`. Rows are
right-padded and no padding mask is passed: under the causal mask a real token never sees the pads
after it, so its log-prob is the same, and attention takes its mask-free causal kernel (building the
(batch, 1, L, L) padding mask and the masked kernel were half the time of a tiny model on long rows).
"""

from dataclasses import dataclass

import numpy as np
import torch
import xxhash
from stackpref.eval.chat import is_chat


@dataclass
class Tokenized:
    """Token ids per row: the prompt, and one list per response column (chosen, rejected)."""

    prompts: list[list[int]]
    responses: list[list[list[int]]]

    def lengths(self) -> np.ndarray:
        """(rows, columns) response lengths in tokens."""
        lengths = [[len(r) for r in column] for column in self.responses]
        return np.array(lengths, dtype=np.int64).reshape(len(self.responses), len(self.prompts)).T

    def total_lengths(self) -> np.ndarray:
        """The longest prompt + response of each row."""
        prompt = np.array([len(p) for p in self.prompts], dtype=np.int64)
        return prompt + self.lengths().max(axis=1)

    def digest(self) -> str:
        """xxh3-128 of every id: keys the reference cache to exactly these token sequences."""
        digest = xxhash.xxh3_128()
        for row in (self.prompts, *self.responses):
            for ids in row:
                digest.update(np.asarray(ids, dtype=np.int64).tobytes())
                digest.update(b"|")
        return digest.hexdigest()


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def with_eos(texts, eos: str) -> list[str]:
    return [t if t.endswith(eos) else t + eos for t in texts]


def encode(tokenizer, items: list, generation_prompt: bool = False) -> list[list[int]]:
    """TRL's `_tokenize` over a batch: text through the tokenizer (special tokens added), message lists
    through the chat template, with the assistant's generation prompt when asked for (a prompt alone)."""
    if not items:
        return []
    if is_chat(items):
        return tokenizer.apply_chat_template(list(items), tokenize=True, return_dict=True,
                                             add_generation_prompt=generation_prompt)["input_ids"]
    return tokenizer(list(items))["input_ids"]


def _joined(tokenizer, prompts: list, responses: list) -> list:
    """prompt + response as TRL's trainers join them: EOS appended to text (the chat template ends a turn
    itself), message lists concatenated."""
    if not is_chat(responses):
        responses = with_eos(responses, tokenizer.eos_token)
    return [p + r for p, r in zip(prompts, responses)]


def tokenize(tokenizer, prompts: list, *columns: list) -> Tokenized:
    """TRL's DPO tokenization of prompts with one or more response columns, batched; prompts and
    responses are all text or all message lists (conversational)."""
    prompt_ids = encode(tokenizer, prompts, generation_prompt=True)
    full = [encode(tokenizer, _joined(tokenizer, prompts, column)) for column in columns]
    split = [min(_common_prefix(p, f[i]) for f in full) for i, p in enumerate(prompt_ids)]
    return Tokenized([p[:n] for p, n in zip(prompt_ids, split)],
                     [[f[i][n:] for i, n in enumerate(split)] for f in full])


def batches(lengths: np.ndarray, width: int, batch_tokens: int) -> list[np.ndarray]:
    """Row indices, longest first, packed so each batch's padded size (rows x width x longest) stays
    under `batch_tokens` (one row always fits, however long)."""
    order = np.argsort(-lengths, kind="stable")
    out, start = [], 0
    while start < len(order):
        rows = max(1, batch_tokens // (width * max(int(lengths[order[start]]), 1)))
        out.append(order[start:start + rows])
        start += rows
    return out


def _parts(model):
    """(backbone, lm head, logit scale, final softcap) of a causal LM, through a PeftModel wrapper; the
    adapter layers sit inside the backbone, so set_adapter/disable_adapter still apply."""
    causal = model.get_base_model() if hasattr(model, "get_base_model") else model
    config = causal.config.get_text_config()
    return (causal.base_model, causal.get_output_embeddings(), getattr(config, "logit_scale", None),
            getattr(config, "final_logit_softcapping", None))


def _device(model) -> torch.device:
    return next(model.parameters()).device


@torch.inference_mode()
def response_logps(model, tokenized: Tokenized, pad_id: int, batch_tokens: int = 16384, progress=None,
                   head_rows: int = 4096) -> np.ndarray:
    """(rows, columns) float64: each response's summed token log-prob given its prompt."""
    backbone, head, scale, softcap = _parts(model)
    device = _device(model)
    width = len(tokenized.responses)
    out = np.zeros((len(tokenized.prompts), width), dtype=np.float64)
    for rows in batches(tokenized.total_lengths(), width, batch_tokens):
        sequences = [(tokenized.prompts[i], column[i]) for column in tokenized.responses for i in rows]
        longest = max(len(p) + len(r) for p, r in sequences)
        ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
        targets = torch.zeros_like(ids, dtype=torch.bool)
        for k, (prompt, response) in enumerate(sequences):
            ids[k, :len(prompt) + len(response)] = torch.tensor(prompt + response)
            targets[k, len(prompt):len(prompt) + len(response)] = True
        ids, targets = ids.to(device), targets.to(device)
        hidden = backbone(input_ids=ids, use_cache=False).last_hidden_state
        select = targets[:, 1:]  # position t predicts token t + 1
        states, labels = hidden[:, :-1][select], ids[:, 1:][select]
        owner = torch.arange(len(sequences), device=device)[:, None].expand_as(select)[select]
        token_logps = torch.cat([
            _label_logps(head(states[s:s + head_rows]), labels[s:s + head_rows], scale, softcap)
            for s in range(0, len(labels), head_rows)
        ]) if len(labels) else torch.zeros(0, device=device)
        sums = torch.zeros(len(sequences), dtype=torch.float32, device=device).index_add_(0, owner, token_logps)
        out[rows] = sums.double().cpu().numpy().reshape(width, len(rows)).T
        if progress is not None:
            progress.advance(len(rows), "pairs" if width == 2 else "rows")
    return out


def _label_logps(logits: torch.Tensor, labels: torch.Tensor, scale, softcap) -> torch.Tensor:
    logits = logits.float()
    if scale is not None:
        logits = logits * scale
    if softcap is not None:
        logits = torch.tanh(logits / softcap) * softcap
    return logits.log_softmax(-1).gather(-1, labels[:, None]).squeeze(-1)


def reward_tokens(tokenizer, prompts: list, responses: list) -> list[list[int]]:
    """TRL's RewardTrainer tokenization: prompt + response (+ EOS for text), tokenized whole."""
    return encode(tokenizer, _joined(tokenizer, prompts, responses))


@torch.inference_mode()
def reward_scores(model, columns: list[list[list[int]]], pad_id: int, batch_tokens: int = 16384,
                  progress=None) -> np.ndarray:
    """(rows, columns) float64: a sequence-classification reward model's score of each token sequence,
    the columns of a row (a pair's chosen and rejected) in one batch. Rows are right-padded and the
    model reads each one's last non-pad token, as in training."""
    device = _device(model)
    width = len(columns)
    lengths = np.array([[len(s) for s in column] for column in columns], dtype=np.int64).reshape(width, -1)
    out = np.zeros((lengths.shape[1], width), dtype=np.float64)
    for rows in batches(lengths.max(axis=0), width, batch_tokens):
        sequences = [column[i] for column in columns for i in rows]
        longest = max(len(s) for s in sequences)
        ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
        attention = torch.zeros_like(ids)
        for k, sequence in enumerate(sequences):
            ids[k, :len(sequence)] = torch.tensor(sequence)
            attention[k, :len(sequence)] = 1
        logits = model(input_ids=ids.to(device), attention_mask=attention.to(device), use_cache=False).logits
        out[rows] = logits[:, 0].double().cpu().numpy().reshape(width, len(rows)).T
        if progress is not None:
            progress.advance(len(rows), "pairs" if width == 2 else "rows")
    return out
