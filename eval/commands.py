"""`stackpref eval`: reward accuracy and win-rate of a checkpoint, or `--compare` of two runs. Only click
is imported here; torch and the models load when a run starts, so `--help` stays fast."""

import click
from stackpref.eval.config import field_help


def _option(name: str, *flags, **kwargs):
    return click.option(*(flags or (f"--{name.replace('_', '-')}",)), name, default=None, help=field_help(name),
                        **kwargs)


@click.command("eval")
@click.argument("checkpoint", required=False)
@_option("data", "--data", "-d")
@_option("split", "--split")
@_option("output", "--output", "-o")
@_option("ref", "--ref")
@_option("beta", type=float)
@click.option("--load-in-4bit/--no-load-in-4bit", "load_in_4bit", default=None, help=field_help("load_in_4bit"))
@_option("max_pairs", type=int)
@_option("max_length", type=int)
@_option("batch_tokens", type=int)
@_option("bootstrap", type=int)
@_option("seed", type=int)
@click.option("--ref-cache/--no-ref-cache", "ref_cache", default=None, help=field_help("ref_cache"))
@_option("cache_dir")
@_option("judge")
@_option("judge_url")
@_option("judge_model")
@_option("judge_workers", type=int)
@_option("baseline")
@_option("num_prompts", type=int)
@_option("max_new_tokens", type=int)
@_option("temperature", type=float)
@_option("top_p", type=float)
@_option("generation_batch_size", type=int)
@_option("engine", type=click.Choice(["auto", "hf", "vllm"]))
@click.option("--trust-remote-code", is_flag=True, default=None, help=field_help("trust_remote_code"))
@click.option("--compare", nargs=2, metavar="RUN_A RUN_B", default=None,
              help="Put two eval outputs side by side (Markdown on stdout, or to --output FILE); no CHECKPOINT.")
@click.option("--overwrite", is_flag=True, help="Replace the report in OUTPUT if one is there.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def eval_command(checkpoint, compare, overwrite, quiet, **options) -> None:
    """Reward accuracy (and, with --judge, win-rate) of CHECKPOINT on held-out pairs.

    CHECKPOINT is a LoRA adapter folder (its base read from the adapter config), a merged model, or a
    reward model. Accuracy is reported for every score the checkpoint supports: the implicit DPO
    reward against --ref, summed and mean log-probs, or the reward model's score; with bootstrap 95%
    CIs, by pm_score margin, site and longer side. Writes report.json, report.md and PNG plots.
    """
    if compare:
        if checkpoint:
            raise click.UsageError("--compare takes two eval outputs and no CHECKPOINT")
        from pathlib import Path

        from stackpref.eval.compare import compare as compare_runs

        table = compare_runs(*compare)
        if options.get("output"):
            Path(options["output"]).write_text(table + "\n", encoding="utf-8")
            click.echo(f"wrote {options['output']}")
        else:
            click.echo(table)
        return
    if not checkpoint:
        raise click.UsageError("give a CHECKPOINT to evaluate, or --compare RUN_A RUN_B")
    from stackpref.eval.config import NEEDS, EvalConfig

    from stackpref.extras import require

    require("eval", *NEEDS)
    from stackpref.eval.run import run_eval

    config = EvalConfig(checkpoint=checkpoint, **{k: v for k, v in options.items() if v is not None})
    out = run_eval(config, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {out}: report.json, report.md, plots")
