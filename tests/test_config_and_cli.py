"""Config files (strict), flags over files, reproducing a build from its manifest, and the CLI."""

import json
import subprocess
import sys

import helpers
import pytest

from stackpref.config import BuildConfig, resolve_config
from stackpref.errors import ConfigError

COMMANDS = [[], ["build"], ["inspect"], ["push"], ["train"], ["train", "sft"], ["train", "dpo"], ["eval"]]


def invoke(*args):
    return helpers.invoke(*args, catch_exceptions=False)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command(command):
    result = invoke(*command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.output
    if command == ["build"]:
        for option in ("--tokenizer", "--min-margin", "--max-pairs-per-question", "--split", "--seed",
                       "--max-prompt-tokens", "--max-length", "--overwrite", "--config", "--push"):
            assert option in result.output
    if command == ["push"]:
        for option in ("OUT REPO_ID", "--private", "--revision", "--message", "--token", "--dry-run"):
            assert option in result.output
    if command[:1] == ["train"] and len(command) == 2:
        for option in ("--recipe", "--data", "--model", "--output", "--resume", "--learning-rate", "--max-length"):
            assert option in result.output
        assert ("--sft TEXT" in result.output) == (command[1] == "dpo")
        assert ("--beta FLOAT" in result.output) == (command[1] == "dpo")
        assert ("--lora-r INTEGER" in result.output) == (command[1] == "sft")
    if command == ["eval"]:
        for option in ("[CHECKPOINT]", "--data", "--split", "--ref", "--output", "--judge", "--judge-url",
                       "--judge-model", "--baseline", "--max-new-tokens", "--temperature", "--compare", "--no-ref-cache"):
            assert option in result.output


def test_version():
    result = invoke("--version")
    assert result.exit_code == 0 and result.output.startswith("stackpref, version ")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_imports_no_ml_stack(command):
    code = (
        "import sys; from click.testing import CliRunner; from stackpref.cli import cli; "
        f"CliRunner().invoke(cli, {command + ['--help']!r}); "
        "print(sorted(m for m in ('torch', 'transformers', 'trl', 'datasets', 'polars', 'pyarrow') if m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_unknown_config_key_is_an_error(tmp_path):
    config = tmp_path / "build.yaml"
    config.write_text("min_margn: 2\n")
    with pytest.raises(ConfigError, match="unknown config key 'min_margn'; did you mean 'min_margin'"):
        resolve_config(config)
    result = invoke("build", "--config", config, "--out", tmp_path / "out")
    assert result.exit_code == 2 and "min_margn" in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"min_margin": 0}, "min_margin must be >= 1"),
        ({"split": {"sft": 0.5, "train": 0.6, "test": 0.1}}, "sum to 1"),
        ({"split": {"sft": 0.5, "train": 0.5}}, "split must name exactly sft, train, test"),
        ({"max_length": 100, "max_prompt_tokens": 200}, "max_length \\(100\\) must exceed max_prompt_tokens \\(200\\)"),
        ({"prompt_template": "Q: {q}"}, "must contain \\{question\\}"),
    ],
)
def test_bad_values_name_the_value(values, message):
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**values)


@pytest.mark.slow
def test_flags_override_file_and_manifest_reproduces_build(tmp_path):
    config = tmp_path / "build.yaml"
    config.write_text("min_margin: 3\nseed: 7\nmax_pairs_per_question: 4\n")
    first = tmp_path / "first"
    result = invoke("build", "--config", config, "--min-margin", "2", "--out", first, "-q")
    assert result.exit_code == 0, result.output
    manifest = json.loads((first / "manifest.json").read_text())
    assert manifest["config"]["min_margin"] == 2 and manifest["config"]["seed"] == 7
    assert manifest["config"]["max_pairs_per_question"] == 4

    second = tmp_path / "second"
    result = invoke("build", "--config", first / "manifest.json", "--out", second, "-q")
    assert result.exit_code == 0, result.output
    for path in sorted((first / "data").rglob("*.parquet")):
        assert (second / path.relative_to(first)).read_bytes() == path.read_bytes()


def test_split_flag_parses(tmp_path):
    result = invoke("build", "--split", "sft=0.2,train=0.3", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "split must name exactly" in result.output
    result = invoke("build", "--split", "sft=a", "--out", tmp_path / "o")
    assert result.exit_code == 2 and "NAME=FRACTION" in result.output


@pytest.mark.slow
def test_default_build_writes_stackpref_data_and_inspect_reads_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("build", "-q")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "stackpref-data" / "README.md").is_file()
    summary = json.loads(invoke("inspect", "stackpref-data", "--json").output)
    manifest = json.loads((tmp_path / "stackpref-data" / "manifest.json").read_text())
    assert summary["splits"] == manifest["counts"]["splits"]
    assert summary["overlap_check"]["passed"] and len(summary["examples"]) == 3
    assert sum(summary["margins"].values()) == sum(summary["splits"]["pairs"].values())
    table = invoke("inspect", "stackpref-data")
    assert table.exit_code == 0 and "leakage check passed" in table.output


def test_a_missing_extra_names_the_pip_command():
    from stackpref.errors import MissingDependencyError
    from stackpref.extras import require

    with pytest.raises(MissingDependencyError, match=r"needs no_such_module_x, part of the train extra: pip install 'stackpref\[train\]'"):
        require("train", "json", "no_such_module_x")
    require("eval", "json")  # installed: no error


def test_engine_ray_without_ray_names_the_install_command(tmp_path, monkeypatch):
    from stackpref import extras

    real = extras.find_spec
    monkeypatch.setattr(extras, "find_spec", lambda name: None if name == "ray" else real(name))
    result = invoke("build", "-q", "--engine", "ray", "--out", tmp_path / "out")
    assert result.exit_code == 5, result.output
    assert "pip install 'stackpref[ray]'" in result.output and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("values", "message"),
    [({"engine": "spark"}, "engine must be one of local, ray; got 'spark'"),
     ({"ray_address": "auto"}, "only used with engine ray")],
)
def test_engine_options_are_checked(values, message):
    with pytest.raises(ConfigError, match=message):
        BuildConfig(**values)
