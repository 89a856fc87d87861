"""Reward accuracy on held-out pairs: score every pair with every scorer the checkpoint supports, then
summarize each through the `reward_accuracy` metric module, overall and broken down.

Scorers: `implicit_reward` (beta * (log pi - log pi_ref), what DPO optimizes; needs a reference),
`logprob_sum` and `logprob_mean` (reference-free), `reward_model` (a sequence classifier's score).
The breakdowns show where a model is right: by the build's pm_score margin (a margin-3 pair should
be easier than a margin-1 pair), by site, and by which side is longer (a model that just prefers
long answers is right on "chosen longer" pairs and wrong on "rejected longer" ones).
"""

import time
from dataclasses import dataclass

import numpy as np
import polars as pl
import xxhash
from stackpref.eval import metrics, refcache, scoring
from stackpref.eval.chat import response_chars
from stackpref.eval.config import EvalConfig
from stackpref.eval.data import pm_margin_bucket
from stackpref.eval.models import REWARD, Loaded

PRIMARY = ("implicit_reward", "reward_model", "logprob_sum")
MARGIN_BUCKETS = ("1", "2", "3+", "unknown")


@dataclass
class PairScores:
    scores: dict[str, np.ndarray]  # scorer -> (pairs, 2): chosen, rejected
    kept: np.ndarray  # indices of the frame's rows that were scored
    dropped_over_length: int
    reference: dict | None  # description, id, cache status, seconds
    beta: float | None
    seconds: dict

    @property
    def primary(self) -> str:
        return next(name for name in PRIMARY if name in self.scores)


def score_pairs(loaded: Loaded, frame: pl.DataFrame, config: EvalConfig, progress) -> PairScores:
    prompts, chosen, rejected = (frame[c].to_list() for c in ("prompt", "chosen", "rejected"))
    pad_id = loaded.tokenizer.pad_token_id
    started = time.perf_counter()
    if loaded.checkpoint.kind == REWARD:
        sequences = [scoring.reward_tokens(loaded.tokenizer, prompts, side) for side in (chosen, rejected)]
        longest = np.array([max(len(a), len(b)) for a, b in zip(*sequences)])
        kept = _kept(longest, config.max_length)
        progress.step("reward model: scoring pairs")
        values = scoring.reward_scores(loaded.model, [[s[i] for i in kept] for s in sequences], pad_id,
                                       config.batch_tokens, progress)
        seconds = {"tokenize_and_score": round(time.perf_counter() - started, 3)}
        return PairScores({"reward_model": values}, kept, len(prompts) - len(kept), None, None, seconds)

    tokenized = scoring.tokenize(loaded.tokenizer, prompts, chosen, rejected)
    kept = _kept(tokenized.total_lengths(), config.max_length)
    if len(kept) < len(prompts):
        tokenized = scoring.Tokenized([tokenized.prompts[i] for i in kept],
                                      [[column[i] for i in kept] for column in tokenized.responses])
    seconds = {"tokenize": round(time.perf_counter() - started, 3)}
    started = time.perf_counter()
    progress.step("policy: scoring pairs")
    with loaded.policy() as model:
        policy = scoring.response_logps(model, tokenized, pad_id, config.batch_tokens, progress)
    seconds["policy"] = round(time.perf_counter() - started, 3)
    scores = {"logprob_sum": policy, "logprob_mean": policy / np.maximum(tokenized.lengths(), 1)}
    reference, beta = None, None
    if loaded.reference is not None:
        started = time.perf_counter()
        ref_logps, status = _reference_logps(loaded, tokenized, config, progress)
        seconds["reference"] = round(time.perf_counter() - started, 3)
        beta = config.beta or float(loaded.checkpoint.train_config.get("beta") or 0.1)
        scores["implicit_reward"] = beta * (policy - ref_logps)
        reference = {"kind": loaded.reference.how, "description": loaded.reference.description,
                     "id": xxhash.xxh3_64_hexdigest(loaded.reference.id.encode()), "cache": status}
    return PairScores(scores, kept, len(prompts) - len(kept), reference, beta, seconds)


def _kept(lengths: np.ndarray, max_length: int | None) -> np.ndarray:
    return np.arange(len(lengths)) if max_length is None else np.flatnonzero(lengths <= max_length)


def _reference_logps(loaded: Loaded, tokenized: scoring.Tokenized, config: EvalConfig, progress):
    """The reference's log-probs from the cache when this reference scored these tokens before."""
    path = refcache.entry(config.cache_dir, loaded.reference.id, tokenized.digest()) if config.ref_cache else None
    cached = refcache.read(path, len(tokenized.prompts), 2) if path else None
    if cached is not None:
        return cached, "hit"
    progress.step("reference: scoring pairs")
    with loaded.reference_model() as model:
        values = scoring.response_logps(model, tokenized, loaded.tokenizer.pad_token_id, config.batch_tokens, progress)
    if path:
        refcache.write(path, values)
    return values, "miss" if path else "off"


def summarize(pair_scores: PairScores, frame: pl.DataFrame, config: EvalConfig) -> dict:
    """Per scorer: the overall metric and its breakdowns, each group with its CIs and n."""
    frame = frame[pair_scores.kept.tolist()] if len(pair_scores.kept) < frame.height else frame
    groups = _groups(frame)
    return {name: {"overall": _metric(values, config),
                   **{f"by_{key}": {label: _metric(values[rows], config) for label, rows in parts.items()}
                      for key, parts in groups.items()}}
            for name, values in pair_scores.scores.items()}


def _metric(values: np.ndarray, config: EvalConfig) -> dict:
    return metrics.load("reward_accuracy").compute(
        chosen_scores=values[:, 0].tolist(), rejected_scores=values[:, 1].tolist(),
        bootstrap_samples=config.bootstrap, seed=config.seed)


def _groups(frame: pl.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """Row indices of each breakdown group: margin bucket, site, longer side (in characters of the answer)."""
    groups = {}
    bucket = pm_margin_bucket(frame)
    if bucket is not None:
        groups["margin_bucket"] = _by(bucket.to_numpy(), MARGIN_BUCKETS)
    if "site" in frame.columns:
        sites = frame["site"].fill_null("unknown").to_numpy()
        groups["site"] = _by(sites, sorted(set(sites)))
    chosen, rejected = (response_chars(frame, c).to_numpy() for c in ("chosen", "rejected"))
    side = np.where(chosen > rejected, "chosen longer", np.where(chosen < rejected, "rejected longer", "same length"))
    groups["longer_side"] = _by(side, ("chosen longer", "rejected longer", "same length"))
    return groups


def _by(labels: np.ndarray, order) -> dict[str, np.ndarray]:
    return {label: rows for label in order if len(rows := np.flatnonzero(labels == label))}
