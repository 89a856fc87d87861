"""Helpers shared by the tests: dump rows as the real dumps write them, the CLI, the output files."""

from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path

import polars as pl
from click.testing import CliRunner

from stackpref.cli import cli

XML_DECL = '\ufeff<?xml version="1.0" encoding="utf-8"?>\n'


def dump_row(**attrs) -> str:
    """One dump line: attribute values escaped the way the dumps do it, newlines as `&#xA;`."""
    def value(text) -> str:
        return escape(str(text), quote=True).replace("\r", "&#xD;").replace("\n", "&#xA;")

    return "  <row " + " ".join(f'{k}="{value(v)}"' for k, v in attrs.items()) + " />"


def posts_xml(rows: list[str]) -> str:
    """A whole Posts.xml around `rows`, with the dumps' BOM and declaration."""
    return XML_DECL + "<posts>\n" + "\n".join(rows) + "\n</posts>\n"


def invoke(*args, catch_exceptions: bool = True):
    """`stackpref ARGS` through click's runner; paths may be Path objects."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=catch_exceptions)


def cli_build(src, out: Path, *extra: str):
    """`stackpref build SRC --out OUT -q EXTRA...` (the result, whatever its exit code)."""
    return invoke("build", src, "--out", out, "-q", *extra)


def one_error_line(result, code: int) -> str:
    """The single `Error: ...` line a failed command printed, after checking its exit code."""
    assert result.exit_code == code, result.output
    lines = result.output.strip("\n").splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def read_config(out: Path, config: str) -> pl.DataFrame:
    """Every row of one config (pairs or sft) of a local build, all file splits (none: no rows, since
    a build writes no file without rows)."""
    from stackpref.schema import OUTPUT_SCHEMAS

    files = sorted((out / "data" / config).glob("*.parquet"))
    return pl.read_parquet(files) if files else pl.from_arrow(OUTPUT_SCHEMAS[config].empty_table())


@contextmanager
def moto_s3(bucket: str) -> Iterator[dict[str, str]]:
    """A moto S3 server on a free local port holding an empty `bucket`, with the environment that
    points pyarrow and boto3 at it set while the context lasts (yielded, for Ray workers)."""
    import boto3
    import pytest
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    env = {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            boto3.client("s3").create_bucket(Bucket=bucket)
            yield env
    finally:
        server.stop()
