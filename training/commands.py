"""`stackpref train sft|dpo`: one flag per TrainConfig field that applies to the stage, generated from
the dataclass so help texts and defaults live in one place. No torch is imported until a run starts."""

import types
import typing

import click
from stackpref.training.config import FIELDS, field_help

_SPELLED_OUT = ("stage", "data", "model", "output", "sft")  # given short flags in _common


def _click_type(annotation):
    """(click type, multiple) for a dataclass annotation such as `int | None` or `list[str]`."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    base = args[0] if isinstance(annotation, types.UnionType) and len(args) == 1 else annotation
    if typing.get_origin(base) is list:
        return str, True
    return base, False


def _field_options(stage: str):
    """click options for every config field of `stage`; all default to None so the recipe shows through."""
    def decorate(command):
        for f in reversed(FIELDS.values()):
            if f.name in _SPELLED_OUT or stage not in f.metadata["stages"]:
                continue
            flag = f.name.replace("_", "-")
            kind, multiple = _click_type(f.type)
            shown = ", ".join(f.default) if isinstance(f.default, tuple) else f.default
            default_text = f" Default: {shown}." if f.default not in (None, ()) else ""
            if kind is bool:
                command = click.option(f"--{flag}/--no-{flag}", f.name, default=None,
                                       help=field_help(f.name) + default_text)(command)
            else:
                command = click.option(f"--{flag}", f.name, type=kind, multiple=multiple,
                                       default=None, help=field_help(f.name) + default_text)(command)
        return command
    return decorate


def _common(stage: str):
    def decorate(command):
        options = [
            click.option("--data", "-d", default=None, help=field_help("data") + " Default: ./stackpref-data."),
            click.option("--model", "-m", default=None, help=field_help("model")),
            click.option("--output", "-o", default=None, help=field_help("output")),
            click.option("--recipe", "-r", default=None,
                         help="A recipe YAML (path, or the name of a shipped one: tiny-cpu, llama2-7b-sft, "
                              "llama2-7b-dpo); flags override it."),
            click.option("--resume", is_flag=True, help="Continue from the last checkpoint in OUTPUT/checkpoints."),
        ]
        if stage == "dpo":
            options.insert(2, click.option("--sft", default=None, help=field_help("sft")))
        command = _field_options(stage)(command)
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


@click.group()
def train() -> None:
    """QLoRA training on a build: `train sft`, then `train dpo` from its adapter (needs stackpref[train])."""


def _run(stage: str, recipe, resume, options) -> None:
    from stackpref.training import train as run_train

    options = {k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()}
    options = {k: v for k, v in options.items() if v not in (None, [])}
    out = run_train(stage, recipe=recipe, resume=resume, **options)
    click.echo(f"wrote {out}: adapter, tokenizer, train_config.yaml, metrics.jsonl, run.json")


@train.command()
@_common("sft")
def sft(recipe, resume, **options) -> None:
    """Supervised fine-tuning on sft/train (loss on the completion only), evaluated on sft/test.

    The base is loaded in 4-bit NF4 with LoRA on every linear projection; the adapter is saved to
    OUTPUT. Example: stackpref train sft --recipe tiny-cpu --data stackpref-data --output runs/sft
    """
    _run("sft", recipe, resume, options)


@train.command()
@_common("dpo")
def dpo(recipe, resume, **options) -> None:
    """DPO on pairs/train, evaluated on pairs/test, starting from the SFT adapter (--sft), which is also
    the reference model.

    Example: stackpref train dpo --recipe tiny-cpu --data stackpref-data --sft runs/sft --output runs/dpo
    """
    _run("dpo", recipe, resume, options)
