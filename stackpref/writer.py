"""Atomic, deterministic output: everything is written into a staging folder beside the target
and renamed into place at the end, so a crashed or refused build leaves nothing half-written."""

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import OutputExistsError

ROWS_PER_SHARD = 250_000
# Fixed writer settings: same rows in, same bytes out.
_PARQUET = dict(compression="zstd", compression_level=9, use_dictionary=True, write_statistics=True)


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


def write_split(table: pa.Table, folder: Path, split: str) -> list[dict]:
    """`{split}-00000-of-0000N.parquet` shards (the Hub's naming); returns each shard's path
    (relative to the output root), rows and bytes. An empty split still gets one file, so the
    schema is declared."""
    folder.mkdir(parents=True, exist_ok=True)
    n_shards = max(1, -(-table.num_rows // ROWS_PER_SHARD))
    names = []
    for index in range(n_shards):
        name = f"{split}-{index:05d}-of-{n_shards:05d}.parquet"
        shard = table.slice(index * ROWS_PER_SHARD, ROWS_PER_SHARD)
        pq.write_table(shard, folder / name, **_PARQUET)
        names.append({
            "path": f"{folder.parent.name}/{folder.name}/{name}",
            "rows": shard.num_rows,
            "bytes": (folder / name).stat().st_size,
        })
    return names


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
