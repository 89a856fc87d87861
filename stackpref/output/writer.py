"""Atomic, deterministic output: everything is written into a staging folder beside the target
and moved into place at the end, so a crashed or refused build leaves nothing half-written.

A local target is swapped in with one rename. An object store (`s3://...`) has no rename of a
folder: its staging prefix is copied into place file by file, `manifest.json` last, so a reader
that waits for the manifest never sees a partial build.
"""

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa

from stackpref.errors import OutputExistsError
from stackpref.output import storage

# Fixed writer settings: same rows in, same bytes out.
_PARQUET = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)


def check_target(out: str, overwrite: bool) -> None:
    found = storage.kind(out)
    if found and not overwrite:
        raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it, or choose another --out")
    if found == "file":
        raise OutputExistsError(f"{out}: exists and is not a folder; refusing to replace it")


@contextmanager
def staging(out: str, overwrite: bool) -> Iterator[str]:
    """Yield a fresh folder beside `out`; on success it replaces `out`, on any error it is removed."""
    check_target(out, overwrite)
    if storage.is_uri(out):
        with _remote_staging(str(out).rstrip("/")) as stage:
            yield stage
        return
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the dataset folder should not be
    try:
        yield str(stage)
        if out.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, trash / out.name)
            os.replace(stage, out)
            shutil.rmtree(trash)
        else:
            os.replace(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


@contextmanager
def _remote_staging(out: str) -> Iterator[str]:
    stage = f"{storage.parent(out)}/.{storage.name(out)}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        yield stage
        storage.remove_tree(out)
        storage.move_tree(storage.join(stage, "data"), storage.join(out, "data"))
        for name in ("README.md", "manifest.json"):  # the manifest last: see the module's docstring
            storage.move(storage.join(stage, name), storage.join(out, name))
    finally:
        storage.remove_tree(stage)


def write_table(frame: pl.DataFrame, location: str, schema: pa.Schema) -> None:
    """One Parquet file in the output contract's exact schema, with the fixed writer settings."""
    storage.write_parquet(frame.to_arrow().cast(schema), location, **_PARQUET)


def list_outputs(root: str) -> dict[str, list[dict]]:
    """`{"pairs/train": [{"path", "rows", "bytes"}, ...], ...}` for the manifest and the card."""
    files: dict[str, list[dict]] = {}
    for config in ("pairs", "sft"):
        for split in ("train", "test"):
            files[f"{config}/{split}"] = [
                {"path": f"data/{config}/{storage.name(p)}", "rows": storage.parquet_rows(p), "bytes": storage.size(p)}
                for p in storage.files(storage.join(root, "data", config), prefix=f"{split}-", suffix=".parquet")
            ]
    return files


def write_json(location: str, data: dict) -> None:
    storage.write_bytes(location, (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
