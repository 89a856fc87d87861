"""Win rate on held-out prompts: generate, pick the baseline, judge every comparison in both orders,
and summarize through the `win_rate` metric module (win/tie/loss, length-controlled, CIs)."""

import json
from pathlib import Path

import polars as pl
from stackpref.eval import metrics
from stackpref.eval.chat import is_chat, prompt_key, response_text, use_template
from stackpref.eval.config import EvalConfig
from stackpref.eval.generate import generate
from stackpref.eval.judges import LLMJudge, implicit_reward_judge, reward_model_judge
from stackpref.eval.models import REWARD, Loaded
from stackpref.eval.report import GENERATIONS

from stackpref.errors import ConfigError, InputError


def held_out_prompts(frame: pl.DataFrame, limit: int) -> tuple[list, list[str]]:
    """Up to `limit` distinct prompts in data order (text or message lists), each with its best chosen
    answer's text (highest chosen_pm_score when the data has it) as the default baseline."""
    rank = ["chosen_pm_score"] if "chosen_pm_score" in frame.columns else []
    ordered = frame.with_row_index("_row").sort([*rank, "_row"], descending=[True] * len(rank) + [False])
    best = ordered.unique("prompt", keep="first", maintain_order=True).sort("_row").head(limit)
    return best["prompt"].to_list(), [response_text(c) for c in best["chosen"].to_list()]


def make_judge(config: EvalConfig, loaded: Loaded, beta: float, progress, chat: bool = False):
    if config.judge == "llm":
        return LLMJudge(config.judge_url, config.judge_model, config.judge_workers)
    if config.judge == "implicit":
        if loaded.reference is None:
            raise ConfigError("--judge implicit needs a reference: evaluate an adapter, or pass --ref")
        return implicit_reward_judge(loaded, beta, config.batch_tokens, progress)
    from stackpref.eval.models import load

    judge_model = load(config.judge, trust_remote_code=config.trust_remote_code)
    if judge_model.checkpoint.kind != REWARD:
        raise ConfigError(f"--judge {config.judge}: not a reward model (sequence classification); use a reward "
                          "model folder, 'implicit' or 'llm'")
    if chat:  # the reward model reads the conversation through its own chat template, as it was trained
        use_template(judge_model.tokenizer, None, judge_model.checkpoint, judge_model.tokenizer_saved)
    return reward_model_judge(judge_model, config.batch_tokens, progress)


def baseline_responses(config: EvalConfig, prompts: list, chosen: list[str], progress) -> tuple[list[str], str]:
    """The held-out chosen answers, an earlier eval run's generations, or another checkpoint's (its own
    chat template for message lists, or --chat-template), as text."""
    if config.baseline == "chosen":
        return chosen, "held-out chosen answers"
    folder = Path(config.baseline)
    if (folder / GENERATIONS).is_file():
        rows = {prompt_key(row["prompt"]): row["model"]
                for row in map(json.loads, (folder / GENERATIONS).open(encoding="utf-8"))}
        missing = sum(prompt_key(p) not in rows for p in prompts)
        if missing:
            raise InputError(f"--baseline {folder}: its {GENERATIONS} lacks {missing} of these {len(prompts)} prompts; "
                             "run both evals on the same data and --num-prompts")
        return [rows[prompt_key(p)] for p in prompts], f"generations of the eval run {folder}"
    from stackpref.eval.models import load

    other = load(config.baseline, trust_remote_code=config.trust_remote_code)
    if other.checkpoint.kind == REWARD:
        raise ConfigError(f"--baseline {config.baseline}: a reward model cannot generate")
    if is_chat(prompts):
        use_template(other.tokenizer, config.chat_template, other.checkpoint, other.tokenizer_saved)
    return generate(other, prompts, config, progress), f"generations of {config.baseline}"


def win_rate(loaded: Loaded, frame: pl.DataFrame, config: EvalConfig, beta: float, progress,
             generations: list[str] | None = None) -> tuple[dict, list[dict]]:
    """The win-rate section of the report, and every comparison (for generations.jsonl)."""
    if loaded.checkpoint.kind == REWARD:
        raise ConfigError(f"--judge: {config.checkpoint} is a reward model; it cannot generate responses to judge")
    prompts, chosen = held_out_prompts(frame, config.num_prompts)
    used = {"asked": config.num_prompts, "used": len(prompts)}
    if len(prompts) < config.num_prompts:
        used["reason"] = f"the data has only {len(prompts)} distinct prompts"
    responses = generations if generations is not None else generate(loaded, prompts, config, progress)
    baseline, baseline_name = baseline_responses(config, prompts, chosen, progress)
    judge = make_judge(config, loaded, beta, progress, is_chat(prompts))
    progress.step(f"judging {len(prompts)} comparisons in both orders")
    first = judge.verdicts(prompts, responses, baseline)  # the model's response shown first
    second = 1 - judge.verdicts(prompts, baseline, responses)  # shown second, turned to the model's side
    result = metrics.load("win_rate").compute(
        first=first.tolist(), second=second.tolist(), model_lengths=[len(r) for r in responses],
        baseline_lengths=[len(b) for b in baseline], bootstrap_samples=config.bootstrap, seed=config.seed)
    rows = [dict(zip(("prompt", "model", "baseline", "model_first", "model_second"), row))
            for row in zip(prompts, responses, baseline, first.tolist(), second.tolist())]
    return {
        "judge": judge.name,
        "self_judged": config.judge == "implicit",
        "baseline": baseline_name,
        "prompts": used,
        "unparsed_verdicts": getattr(judge, "unparsed", 0),
        "generation": {"max_new_tokens": config.max_new_tokens, "temperature": config.temperature,
                       "top_p": config.top_p, "seed": config.seed},
        **result,
    }, rows
