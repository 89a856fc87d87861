"""Atomic, deterministic output: everything is written into a staging folder beside the target
and renamed into place at the end, so a crashed or refused build leaves nothing half-written."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import OutputExistsError

# Fixed writer settings: same rows in, same bytes out.
_PARQUET = dict(compression="zstd", compression_level=3, use_dictionary=True, write_statistics=True)


def check_target(out: Path, overwrite: bool) -> None:
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists; pass --overwrite to replace it, or choose another --out")
    if out.exists() and not out.is_dir():
        raise OutputExistsError(f"{out}: exists and is not a folder; refusing to replace it")


@contextmanager
def staging(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a fresh folder beside `out`; on success it replaces `out`, on any error it is removed."""
    out = out.resolve()
    check_target(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the dataset folder should not be
    try:
        yield stage
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


def write_table(frame: pl.DataFrame, path: Path, schema: pa.Schema) -> None:
    """One Parquet file in the output contract's exact schema, with the fixed writer settings."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(frame.to_arrow().cast(schema), path, **_PARQUET)


def list_outputs(root: Path) -> dict[str, list[dict]]:
    """`{"pairs/train": [{"path", "rows", "bytes"}, ...], ...}` for the manifest and the card."""
    files: dict[str, list[dict]] = {}
    for config in ("pairs", "sft"):
        for split in ("train", "test"):
            files[f"{config}/{split}"] = [
                {"path": f"data/{config}/{p.name}", "rows": pq.ParquetFile(p).metadata.num_rows,
                 "bytes": p.stat().st_size}
                for p in sorted((root / "data" / config).glob(f"{split}-*.parquet"))
            ]
    return files


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
