"""One eval run: load the pairs and the checkpoint, score reward accuracy, optionally measure the win
rate, and write the report. The CLI and the library call this."""

import contextlib
import logging
import time
import warnings
from pathlib import Path

from stackpref.eval import accuracy, chat, report
from stackpref.eval.config import EvalConfig
from stackpref.eval.data import data_hash, describe_input, load_pairs
from stackpref.eval.generate import generate_vllm, use_vllm
from stackpref.eval.models import describe, load, tokenizer_of
from stackpref.eval.winrate import held_out_prompts, win_rate

from stackpref.errors import OutputExistsError
from stackpref.output import storage
from stackpref.progress import Progress


def output_folder(config: EvalConfig, overwrite: bool) -> Path:
    """Checked before any work; created only when the report is written, so a failed run leaves none."""
    out = Path(config.output or f"eval-{Path(config.checkpoint.rstrip('/')).name}")
    if (out / report.REPORT_JSON).exists() and not overwrite:
        raise OutputExistsError(f"{out} already holds an eval report: pass --overwrite or choose another --output")
    return out


@contextlib.contextmanager
def quiet_libraries():
    """transformers', huggingface_hub's, datasets' and evaluate's progress bars off, log records up to
    WARNING from any library dropped (bitsandbytes and peft log through the root logger), and Python
    warnings ignored, for `-q`; all restored after. Errors still show."""
    import datasets
    import evaluate
    import huggingface_hub
    import transformers

    verbosity, disabled = transformers.logging.get_verbosity(), logging.root.manager.disable
    transformers.logging.set_verbosity_error()
    logging.disable(logging.WARNING)
    transformers.logging.disable_progress_bar()
    huggingface_hub.utils.disable_progress_bars()
    datasets.disable_progress_bars()
    evaluate.utils.logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        logging.disable(disabled)
        transformers.logging.enable_progress_bar()
        huggingface_hub.utils.enable_progress_bars()
        datasets.enable_progress_bars()
        evaluate.utils.logging.enable_progress_bar()


def run_eval(config: EvalConfig, *, overwrite: bool = False, progress: bool = False) -> Path:
    """Evaluate `config.checkpoint` on `config.data`; returns the folder holding report.json/.md and plots."""
    started = time.perf_counter()
    out = output_folder(config, overwrite)
    checkpoint = describe(config.checkpoint)
    given = config
    config = config.from_checkpoint(checkpoint.train_config)
    from_train_config = [name for name in ("data", "max_length")
                         if getattr(given, name) is None and checkpoint.train_config.get(name)]
    frame = load_pairs(config.data, config.split, config.max_pairs)
    prompt_format = chat.describe_format(frame, config.chat_template, checkpoint.train_config)
    tokenizer, saved = tokenizer_of(checkpoint, config.trust_remote_code)
    if prompt_format["format"] == chat.CONVERSATIONAL:
        prompt_format["chat_template"] = chat.use_template(tokenizer, config.chat_template, checkpoint, saved)
    load_in_4bit = config.load_in_4bit
    generations = None
    if config.judge and use_vllm(config):  # vLLM first, while the GPU is still empty
        prompts, _ = held_out_prompts(frame, config.num_prompts)
        four_bit = bool(checkpoint.train_config.get("load_in_4bit")) if load_in_4bit is None else load_in_4bit
        generations = generate_vllm(checkpoint, four_bit, prompts, config, tokenizer)
    loaded = load(config.checkpoint, ref=config.ref, load_in_4bit=load_in_4bit,
                  trust_remote_code=config.trust_remote_code, tokenizer=tokenizer)
    with Progress(progress) as bar:
        scored = accuracy.score_pairs(loaded, frame, config, bar)
        summary = accuracy.summarize(scored, frame, config)
        win, comparisons = (win_rate(loaded, frame, config, scored.beta or 0.1, bar, generations)
                            if config.judge else (None, None))
    scoring_seconds = sum(scored.seconds.values())
    primary = scored.primary
    split = None if storage.kind(config.data) == "file" else config.split  # a file is taken whole
    built = {
        "format": report.FORMAT,
        "checkpoint": {"path": config.checkpoint, "kind": checkpoint.kind, "stage": checkpoint.stage,
                       "base": checkpoint.base, "load_in_4bit": loaded.load_in_4bit},
        "reference": scored.reference,
        "data": {"source": config.data, "input": describe_input(config.data, split), "split": split,
                 "pairs": frame.height,
                 "scored": len(scored.kept), "max_length": config.max_length,
                 "dropped_over_max_length": scored.dropped_over_length, "hash": data_hash(frame),
                 "from_train_config": from_train_config},
        "prompt_format": prompt_format,
        "beta": scored.beta,
        "primary_scorer": primary,
        "reward_accuracy": summary,
        "win_rate": win,
        "seconds": {**scored.seconds, "total": round(time.perf_counter() - started, 3)},
        "pairs_per_second": round(len(scored.kept) / scoring_seconds, 2) if scoring_seconds else None,
        "config": config.to_dict(),
        "versions": report.versions(),
    }
    report.write(built, out, scored.scores, scored.kept, comparisons)
    return out
