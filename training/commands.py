"""`stackpref train sft|dpo`: one flag per TrainConfig field that applies to the stage, made from the
dataclass (stackpref/options.py) so help texts and defaults live in one place. No torch is imported
until a run starts."""

import click
from stackpref.training.config import FIELDS, TrainConfig

from stackpref.options import config_options

_recipe = click.option("--recipe", "-r", default=None,
                       help="A recipe YAML (path, or the name of a shipped one: tiny-cpu, llama2-7b-sft, "
                            "llama2-7b-dpo, qwen3-sft, qwen3-dpo); flags override it.")
_resume = click.option("--resume", is_flag=True, help="Continue from the last checkpoint in OUTPUT/checkpoints.")


def _fields_of(stage: str) -> list[str]:
    """The config fields that apply to `stage`, less `stage` itself (the command sets it)."""
    return [name for name, f in FIELDS.items() if stage in f.metadata["stages"] and name != "stage"]


@click.group()
def train() -> None:
    """QLoRA training on a build: `train sft`, then `train dpo` from its adapter (needs stackpref[train])."""


def _run(stage: str, recipe, resume, options) -> None:
    from stackpref.training import train as run_train

    out = run_train(stage, recipe=recipe, resume=resume, **options)
    click.echo(f"wrote {out}: adapter, tokenizer, train_config.yaml, metrics.jsonl, run.json")


@train.command()
@_recipe
@_resume
@config_options(TrainConfig, only=_fields_of("sft"))
def sft(recipe, resume, **options) -> None:
    """Supervised fine-tuning on sft/train (loss on the completion only), evaluated on sft/test.

    The base is loaded in 4-bit NF4 with LoRA on every linear projection; the adapter is saved to
    OUTPUT. Example: stackpref train sft --recipe tiny-cpu --data stackpref-data --output runs/sft
    """
    _run("sft", recipe, resume, options)


@train.command()
@_recipe
@_resume
@config_options(TrainConfig, only=_fields_of("dpo"))
def dpo(recipe, resume, **options) -> None:
    """DPO on pairs/train, evaluated on pairs/test, starting from the SFT adapter (--sft), which is also
    the reference model.

    Example: stackpref train dpo --recipe tiny-cpu --data stackpref-data --sft runs/sft --output runs/dpo
    """
    _run("dpo", recipe, resume, options)
