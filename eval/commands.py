"""`stackpref eval`: reward accuracy and win-rate of a checkpoint, or `--compare` of two runs. Only click
is imported here; torch and the models load when a run starts, so `--help` stays fast."""

import click
from stackpref.eval.config import NEEDS, EvalConfig

from stackpref.options import config_options


@click.command("eval")
@click.argument("checkpoint", required=False)
@config_options(EvalConfig, skip=("checkpoint",))
@click.option("--compare", nargs=2, metavar="RUN_A RUN_B", default=None,
              help="Put two eval outputs side by side (Markdown on stdout, or to --output FILE); no CHECKPOINT.")
@click.option("--overwrite", is_flag=True, help="Replace the report in OUTPUT if one is there.")
@click.option("--quiet", "-q", is_flag=True, help="No progress display, and no progress bars, log lines or warnings "
              "from transformers and the Hub libraries.")
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
    from stackpref.extras import require

    require("eval", *NEEDS)
    import contextlib
    import json

    from stackpref.eval.report import REPORT_JSON, terminal_table
    from stackpref.eval.run import quiet_libraries, run_eval

    config = EvalConfig(checkpoint=checkpoint, **{k: v for k, v in options.items() if v is not None})
    with quiet_libraries() if quiet else contextlib.nullcontext():
        out = run_eval(config, overwrite=overwrite, progress=not quiet)
    click.echo(terminal_table(json.loads((out / REPORT_JSON).read_text(encoding="utf-8"))))
    click.echo(f"wrote {out}: report.json, report.md, plots")
