"""The `stackpref` command: a thin layer over the library. Heavy imports happen inside commands so
`stackpref --help` stays fast and never pulls torch, transformers or trl."""

import json
import re
import signal
import sys
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager

import click

from stackpref._version import __version__
from stackpref.config import BuildConfig
from stackpref.errors import ConfigError, StackprefError
from stackpref.eval import commands as eval_commands
from stackpref.options import config_options
from stackpref.training import commands as train_commands


class _Failure(click.ClickException):
    """A StackprefError shown as one `Error: ...` line with its class's exit code."""

    def __init__(self, error: StackprefError):
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Group(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except StackprefError as error:
            raise _Failure(error) from None


# Backslash escapes a shell cannot type easily (`\n`, `\t`, `\u00fc`, `\N{EM DASH}`, ...): one each.
_ESCAPE = re.compile(r"\\(N\{[^}]*\}?|x[0-9A-Fa-f]{0,2}|u[0-9A-Fa-f]{0,4}|U[0-9A-Fa-f]{0,8}|[0-7]{1,3}|.|$)", re.DOTALL)
_SIMPLE = {"\\": "\\", "'": "'", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
           "v": "\v"}


def unescape_template(text: str) -> str:
    r"""--prompt-template with Python's backslash escapes decoded and every other character kept as
    typed (UTF-8: `Antwort (ü):` stays so); an unknown escape such as `\q` is kept as it is, as Python
    keeps it; a broken one (`\x4`, `\u12`, `\N{NO SUCH NAME}`, a lone `\` at the end) is an error."""
    def decode(match: re.Match) -> str:
        escape = match.group(1)
        if escape in _SIMPLE:
            return _SIMPLE[escape]
        kind, digits = escape[:1], escape[1:]
        try:
            if kind in "xuU" and escape:
                if len(digits) != {"x": 2, "u": 4, "U": 8}[kind]:
                    raise ValueError
                return chr(int(digits, 16))
            if kind == "N" and escape:
                if not (digits.startswith("{") and digits.endswith("}")):
                    raise ValueError
                return unicodedata.lookup(digits[1:-1])
            if escape[:1].isdigit() and escape[:1] < "8":
                return chr(int(escape, 8))
        except (ValueError, KeyError):
            raise ConfigError(f"--prompt-template: bad escape {match.group(0)} at character {match.start() + 1} "
                              "(write \\\\ for a backslash)") from None
        if not escape:
            raise ConfigError("--prompt-template: a lone backslash at the end (write \\\\ for a backslash)")
        return match.group(0)  # an unknown escape: kept

    return _ESCAPE.sub(decode, text)


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the build is so that it cleans up as after Ctrl-C."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@contextmanager
def _stopping_on_signals() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP stop it as Ctrl-C does: the staging and spill
    folders are removed, the workers end, and the command exits with 128 + the signal's number
    (130 for Ctrl-C) after one line on stderr. A second signal during that cleanup is ignored."""
    def stop(signum, frame):
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
        raise Stopped(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        try:
            previous[name] = signal.signal(getattr(signal, name), stop)
        except (AttributeError, ValueError):  # no such signal here, or not the main thread
            pass
    try:
        yield
    except KeyboardInterrupt as stopped:
        signum = getattr(stopped, "signum", signal.SIGINT)
        click.echo(f"stackpref: stopped by {signal.Signals(signum).name}; nothing was written", err=True)
        sys.exit(128 + signum)
    finally:
        for name, handler in previous.items():
            signal.signal(getattr(signal, name), handler)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="stackpref")
def cli() -> None:
    """Stack Exchange Q&A to clean, leak-free preference data (prompt, chosen, rejected)."""


@cli.command()
@click.argument("sources", nargs=-1)
@click.option("--config", "config_file", type=click.Path(dir_okay=False),
              help="YAML file with any of these options (flags override it), or a build's manifest.json "
                   "to reproduce that build.")
@config_options(BuildConfig, skip=("sources",))
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists (only once the new build succeeded).")
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
@click.option("--push", "push_repo", metavar="REPO_ID", default=None,
              help="Then publish OUT to this Hub dataset repo, as `stackpref push OUT REPO_ID` does (token from "
                   "HF_TOKEN or the login cache; checked before the build starts).")
def build(sources, config_file, overwrite, quiet, push_repo, **options) -> None:
    """Build preference pairs and SFT rows from SOURCES into OUT.

    SOURCES are Posts.xml files, site .7z archives, folders of sites, Parquet/JSONL files in the
    stack-exchange-paired or stack-exchange-preferences layout, or Hub dataset ids. With none,
    the bundled sample site is built. OUT gets data/{pairs,sft}/{train,test}-*.parquet, a
    dataset card (README.md) and manifest.json.
    """
    if push_repo:  # a wrong repo id or a missing token should not cost a whole build first
        from stackpref.output import hub

        hub.check_repo_id(push_repo)
        hub.resolve_token(None)
    from stackpref.engines.local import start_fork_server

    if options.get("workers") != 1 and options.get("engine") != "ray":  # overlaps the workers' imports with this process's own
        start_fork_server()
    from stackpref.config import resolve_config
    from stackpref.pipeline.build import build as run_build

    if options.get("prompt_template") is not None:
        options["prompt_template"] = unescape_template(options["prompt_template"])
    config = resolve_config(config_file, sources=list(sources) or None, **options)
    with _stopping_on_signals():
        result = run_build(config, overwrite=overwrite, progress=not quiet)
    counts = result.manifest["counts"]["splits"]
    click.echo(
        f"wrote {result.out}: pairs train {counts['pairs']['train']:,} / test {counts['pairs']['test']:,}, "
        f"sft train {counts['sft']['train']:,} / test {counts['sft']['test']:,}; leakage check "
        f"{'passed' if result.manifest['overlap_check']['passed'] else 'FAILED'}"
    )
    if push_repo:
        click.echo(hub.push(hub.plan_push(result.out, push_repo)).summary())


@cli.command()
@click.argument("out")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--examples", type=int, default=3, show_default=True, help="How many example pairs to show.")
def inspect(out, as_json, examples) -> None:
    """Summarize a build in OUT (a folder or a URI such as s3://...): splits, counts per site, margin histogram, the leakage check
    (recomputed from the Parquet files), and a few example pairs."""
    from stackpref.output.inspection import print_summary, summarize

    summary = summarize(out, examples=examples)
    if as_json:
        click.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        print_summary(summary)


@cli.command()
@click.argument("out")
def validate(out) -> None:
    """Check a build in OUT as `stackpref push` does before sending anything: every file's rows,
    bytes and sha256 against the manifest, the leakage check, the manifest's counts, the card
    against a fresh render, and that every config loads with `datasets`. Exit 6 when it fails."""
    from stackpref.output.validate import validate_build

    checked = validate_build(out)
    for note in checked.notes:
        click.echo(f"note: {note}")
    click.echo(f"{out}: valid ({len(checked.files)} files checked)")


@cli.command()
@click.argument("out", type=click.Path(file_okay=False))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility).")
@click.option("--revision", default="main", show_default=True, metavar="BRANCH",
              help="Branch to commit to; created from main when missing.")
@click.option("--message", "-m", default=None, help="Commit message. Default: the stackpref version and row counts.")
@click.option("--token", default=None, help="Hub token with write access. Default: HF_TOKEN, then huggingface_hub's "
                                            "login cache (`hf auth login`). Never printed.")
@click.option("--dry-run", is_flag=True, help="Validate OUT and print the plan (files, sizes, repo, revision, "
                                              "visibility); send nothing.")
def push(out, repo_id, private, revision, message, token, dry_run) -> None:
    """Publish the build in OUT to the Hugging Face Hub dataset repo REPO_ID (owner/name).

    OUT is checked first: manifest, the schema of every Parquet file, the leakage check (recorded
    and recomputed), the card's metadata. A build that fails is refused with the reason and nothing
    is sent. Then the repo is created if missing, the files that differ from it go up in one commit
    (none when nothing changed), and the dataset URL is printed.
    """
    from stackpref.output import hub

    plan = hub.plan_push(out, repo_id, revision=revision, private=private)
    if dry_run:
        click.echo(hub.describe_plan(plan, hub.token_source(token)))
    else:
        click.echo(hub.push(plan, token=token, message=message).summary())


cli.add_command(train_commands.train)
cli.add_command(eval_commands.eval_command)


def main() -> None:
    cli()
