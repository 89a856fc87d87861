"""Click options made from config dataclasses: on a small hand-made dataclass, then the defaults that
`build`, `train sft|dpo` and `eval` show, read from their dataclasses."""

import dataclasses
import json
from dataclasses import dataclass, field

import click
import pytest
from click.testing import CliRunner
from stackpref.eval.config import EvalConfig
from stackpref.training.config import TrainConfig

from stackpref.cli import cli
from stackpref.config import BuildConfig
from stackpref.options import config_options, shown_default


def parse_pair(text: str) -> tuple[str, str]:
    left, sep, right = text.partition(":")
    if not sep:
        raise ValueError(f"{text!r} is not LEFT:RIGHT")
    return left, right


@dataclass
class Toy:
    count: int = field(default=3, metadata={"help": "How many."})
    rate: float | None = field(default=None, metadata={"help": "A rate."})
    name: str = field(default="toy", metadata={"help": "A name.", "aliases": ("-n",)})
    mode: str = field(default="fast", metadata={"help": "How.", "choices": ("fast", "slow")})
    cache: bool = field(default=True, metadata={"help": "Cache."})
    unsafe: bool = field(default=False, metadata={"help": "Unsafe.", "flag": True})
    tags: list[str] = field(default=("a", "b"), metadata={"help": "Tags."})
    pair: tuple[str, str] | None = field(default=None, metadata={
        "help": "A pair.", "parse": parse_pair, "metavar": "LEFT:RIGHT", "shown_default": {"l": 1, "r": 2}})
    hidden: int = field(default=0, metadata={"help": "Set by the command."})


@click.command()
@config_options(Toy, skip=("hidden",))
def toy(**options) -> None:
    click.echo(json.dumps(options))


def run(*args: str, command=toy):
    return CliRunner().invoke(command, list(args), terminal_width=400)  # wide: no help line wraps


def test_flags_not_given_pass_none():
    result = run()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == dict.fromkeys(
        ["count", "rate", "name", "mode", "cache", "unsafe", "tags", "pair"])


def test_flags_convert_by_annotation_and_metadata():
    result = run("--count", "5", "--rate", "0.5", "-n", "x", "--mode", "slow", "--no-cache", "--unsafe",
                 "--tags", "c", "--tags", "d", "--pair", "l:r")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"count": 5, "rate": 0.5, "name": "x", "mode": "slow", "cache": False,
                                         "unsafe": True, "tags": ["c", "d"], "pair": ["l", "r"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--count", "many"], "'many' is not a valid integer"),
     (["--mode", "medium"], "'medium' is not one of 'fast', 'slow'"),
     (["--pair", "lr"], "'lr' is not LEFT:RIGHT"),
     (["--no-unsafe"], "No such option '--no-unsafe'"),
     (["--hidden", "1"], "No such option '--hidden'")],
)
def test_bad_values_are_usage_errors(args, message):
    result = run(*args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_help_shows_type_choices_and_defaults():
    lines = {line.split()[0]: line for line in run("--help").output.splitlines() if line.startswith("  -")}
    assert lines["--count"].split()[:2] == ["--count", "INTEGER"] and lines["--count"].endswith("[default: 3]")
    assert lines["--rate"].split()[:2] == ["--rate", "FLOAT"] and "[default:" not in lines["--rate"]
    assert lines["-n,"].split()[:3] == ["-n,", "--name", "TEXT"] and lines["-n,"].endswith("[default: toy]")
    assert "[fast|slow]" in lines["--mode"] and lines["--mode"].endswith("[default: fast]")
    assert "--cache / --no-cache" in lines["--cache"] and lines["--cache"].endswith("[default: cache]")
    assert lines["--unsafe"].split() == ["--unsafe", "Unsafe."]  # no --no-unsafe, and off needs no saying
    assert lines["--tags"].endswith("[default: a, b]")
    assert "--pair LEFT:RIGHT" in lines["--pair"] and lines["--pair"].endswith("[default: l=1,r=2]")


@pytest.mark.parametrize(
    ("default", "shown"),
    [("Q: {question}\n\nA: ", "'Q: {question}\\n\\nA: '"), ("plain text", "plain text"), (0.05, "0.05"),
     ((), None), (None, None)],
)
def test_shown_default(default, shown):
    config = dataclasses.make_dataclass("Config", [("x", object, field(default=default))])
    assert shown_default(dataclasses.fields(config)[0]) == shown


def test_names_that_are_not_fields_and_types_click_lacks_are_errors():
    with pytest.raises(ValueError, match="Toy has no field cont"):
        config_options(Toy, only=("cont",))

    @dataclass
    class Mapping:
        weights: dict[str, float] = field(default=None, metadata={"help": "Weights."})

    with pytest.raises(TypeError, match="weights: click has no type"):
        config_options(Mapping)(toy.callback)


def _stage_fields(stage: str) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(TrainConfig) if stage in f.metadata["stages"] and f.name != "stage"]


@pytest.mark.parametrize(
    ("command", "fields"),
    [(["build"], [f for f in dataclasses.fields(BuildConfig) if f.name != "sources"]),
     (["train", "sft"], _stage_fields("sft")),
     (["train", "dpo"], _stage_fields("dpo")),
     (["eval"], [f for f in dataclasses.fields(EvalConfig) if f.name != "checkpoint"])],
    ids=["build", "train sft", "train dpo", "eval"],
)
def test_help_shows_the_dataclass_defaults(command, fields):
    result = run(*command, "--help", command=cli)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for f in fields:
        help_text = " ".join(f.metadata["help"].split())
        shown = shown_default(f)
        if shown is None:
            assert help_text in text and f"{help_text} [default:" not in text, f.name
        else:
            assert f"{help_text} [default: {shown}]" in text, f.name
        if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
            assert shown == str(f.default)


def test_train_flags_override_the_recipe_and_the_rest_shows_through(monkeypatch, tmp_path):
    from stackpref.training.config import resolve

    seen = {}

    def fake_train(stage, *, recipe, resume, **options):
        seen["config"] = resolve(stage, recipe, **options)
        return tmp_path

    monkeypatch.setattr("stackpref.training.train", fake_train)
    result = run("train", "sft", "-r", "tiny-cpu", "-o", str(tmp_path), "--max-steps", "3", "--report-to", "wandb",
                 "--report-to", "tensorboard", command=cli)
    assert result.exit_code == 0, result.output
    config = seen["config"]
    assert (config.max_steps, config.report_to) == (3, ["wandb", "tensorboard"])  # flags
    assert (config.warmup_steps, config.model) == (0.1, "tiny")  # the recipe, not the dataclass defaults
    assert config.lora_target_modules is None
